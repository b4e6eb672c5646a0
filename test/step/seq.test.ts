import { spawn } from 'node:child_process';
import { readdir, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nextSeq, readCounter } from '../../shared/step/index.js';
import { stateDir } from './run.js';

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid ?? 999_999;
}

describe('nextSeq', () => {
  it('starts at 1 and keeps counting in the state dir', async () => {
    const dir = await stateDir();
    expect(await readCounter(dir)).toBe(0);
    expect([await nextSeq(dir), await nextSeq(dir), await nextSeq(dir)]).toEqual([1, 2, 3]);
    expect(await readCounter(dir)).toBe(3);
    // Only the counter is left behind: no lock, no temporary file.
    expect(await readdir(dir)).toEqual(['seq']);
  });

  it('hands out distinct, gapless numbers to 50 concurrent callers', async () => {
    const dir = await stateDir();
    const seqs = await Promise.all(Array.from({ length: 50 }, () => nextSeq(dir)));
    expect(seqs.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('breaks a lock left by a process that died', async () => {
    const dir = await stateDir();
    await writeFile(join(dir, 'seq.lock'), `${await deadPid()} ${hostname()} crashed`);
    expect(await nextSeq(dir, { lockTimeoutMs: 2000 })).toBe(1);
  });

  it('breaks a lock older than staleMs, whoever holds it', async () => {
    const dir = await stateDir();
    const lock = join(dir, 'seq.lock');
    await writeFile(lock, `1 some-other-host x`);
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    expect(await nextSeq(dir, { staleMs: 30_000, lockTimeoutMs: 2000 })).toBe(1);
  });

  it('waits for a live holder rather than breaking its lock', async () => {
    const dir = await stateDir();
    await writeFile(join(dir, 'seq.lock'), `${process.pid} ${hostname()} busy`);
    await expect(nextSeq(dir, { lockTimeoutMs: 100 })).rejects.toThrow(/timed out waiting for the seq lock/);
  });

  it('reports a corrupt counter instead of restarting at 1', async () => {
    const dir = await stateDir();
    await writeFile(join(dir, 'seq'), 'banana');
    await expect(nextSeq(dir)).rejects.toThrow(/is corrupt/);
  });
});
