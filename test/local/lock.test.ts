// The data dir's lock (shared/local/lock.ts): one holder, even when several processes try at
// the same instant, on a free lock or on a stale one; live holders are never taken over.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StartupError } from '../../shared/local/errors.js';
import { LOCK_FILE, liveness, lockDataDir, type LockInfo } from '../../shared/local/lock.js';
import { createLogger, silentLogger } from '../../shared/log/index.js';
import { deadPid, removeDir, tempDir } from './proc.js';

const dirs: string[] = [];
const dir = () => {
  const d = tempDir('facteur-lock-');
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach(removeDir));

const info = (over: Partial<LockInfo>): LockInfo => ({
  pid: process.pid, port: 8080, url: 'http://127.0.0.1:8080', startedAt: new Date().toISOString(), host: hostname(),
  bootId: null, procStart: null, nonce: 'n-' + Math.random().toString(36).slice(2), ...over,
});

/** N real processes that all try to take the lock of `d` at the same instant. */
async function contend(d: string, n: number): Promise<{ results: string[]; stderr: string }> {
  const at = Date.now() + 6000; // time enough for every process to load before the instant
  const procs = Array.from({ length: n }, () =>
    spawn(process.execPath, ['--import', 'tsx', 'test/local/fixtures/lock-contender.ts', d, String(at), '1500'], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let stderr = '';
  const results = await Promise.all(
    procs.map(
      (p) =>
        new Promise<string>((resolve) => {
          let out = '';
          p.stdout!.on('data', (c) => (out += c));
          p.stderr!.on('data', (c) => (stderr += c));
          p.on('exit', () => resolve(out.trim()));
        }),
    ),
  );
  return { results, stderr };
}

describe('data dir lock', () => {
  it('of processes that try at the same instant, exactly one wins; the others are told who holds it', async () => {
    const d = dir();
    const { results } = await contend(d, 5);
    expect(results.filter((r) => r.startsWith('won'))).toHaveLength(1);
    expect(results.filter((r) => r.startsWith('lost data_dir_locked'))).toHaveLength(4);
    // they really raced: every attempt within a few milliseconds of the others
    const times = results.map((r) => Number(r.split(' ').pop()));
    expect(Math.max(...times) - Math.min(...times)).toBeLessThan(250);
    expect(existsSync(join(d, LOCK_FILE))).toBe(false); // released by the winner
    expect(readdirSync(d)).toEqual([]); // no temp or takeover files left
  }, 60_000);

  it('a stale lock (its process is gone) is taken over by exactly one of several racing processes', async () => {
    const d = dir();
    writeFileSync(join(d, LOCK_FILE), JSON.stringify(info({ pid: await deadPid(), nonce: 'stale-1' })));
    // and a takeover left by a process that died in the middle of one
    writeFileSync(join(d, `${LOCK_FILE}.takeover-stale-1`), JSON.stringify(info({ pid: await deadPid(), nonce: 'taker-1' })));
    const { results, stderr } = await contend(d, 5);
    expect(results.filter((r) => r.startsWith('won'))).toHaveLength(1);
    expect(results.filter((r) => r.startsWith('lost data_dir_locked'))).toHaveLength(4);
    expect(stderr).toContain('taking over a stale lock');
    expect(readdirSync(d)).toEqual([]);
  }, 60_000);

  it('refuses while the holder lives, naming its pid and URL; takes it once released', async () => {
    const d = dir();
    const first = await lockDataDir(d, { port: 8080, log: silentLogger });
    first.update(8080, 'http://127.0.0.1:8080');
    const err = await lockDataDir(d, { port: 9090, log: silentLogger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as StartupError).code).toBe('data_dir_locked');
    expect((err as Error).message).toContain(`pid ${process.pid} at http://127.0.0.1:8080`);
    expect((err as Error).message).toContain('FACTEUR_DATA_DIR');
    expect(JSON.parse(readFileSync(join(d, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, port: 8080, host: hostname() });
    first.release();
    first.release();
    const second = await lockDataDir(d, { port: 9090, log: silentLogger });
    first.release(); // no longer ours: must not remove the new holder's lock
    expect(existsSync(join(d, LOCK_FILE))).toBe(true);
    second.release();
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
  });

  it('takes over a stale lock with a log line', async () => {
    const d = dir();
    const dead = await deadPid();
    writeFileSync(join(d, LOCK_FILE), JSON.stringify(info({ pid: dead })));
    const logged: string[] = [];
    const lock = await lockDataDir(d, { port: 0, log: createLogger('info', {}, (l) => logged.push(l)) });
    expect(logged.join('\n')).toMatch(new RegExp(`taking over a stale lock.*"pid":${dead}`));
    lock.release();
  });

  it('tells a live holder from a dead one: pid reused by another program, another boot, another host', async () => {
    expect(liveness(info({}))).toBe('alive');
    expect(liveness(info({ pid: await deadPid() }))).toBe('dead');
    const self = readFileSync('/proc/self/stat', 'utf8');
    const ticks = self.slice(self.lastIndexOf(')') + 2).split(' ')[19]!;
    const ourBoot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    expect(liveness(info({ procStart: ticks, bootId: ourBoot }))).toBe('alive');
    // the pid runs, but started at another time: a reused pid, the holder is gone
    expect(liveness(info({ procStart: String(Number(ticks) - 1) }))).toBe('dead');
    expect(liveness(info({ bootId: '00000000-0000-0000-0000-000000000000' }))).toBe('dead');
    expect(liveness(info({ host: 'elsewhere' }))).toBe('other-host');
    const d = dir();
    writeFileSync(join(d, LOCK_FILE), JSON.stringify(info({ host: 'elsewhere' })));
    await expect(lockDataDir(d, { port: 0, log: silentLogger })).rejects.toThrow(/host elsewhere.*delete .*facteur\.lock/);
  });

  it('a data dir that cannot be written is one clear error', async () => {
    const d = dir();
    writeFileSync(join(d, 'file'), '');
    const err = await lockDataDir(join(d, 'file', 'sub'), { port: 0, log: silentLogger }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'data_dir_not_writable' });
    expect((err as Error).message).toMatch(/not writable \(ENOTDIR\).*FACTEUR_DATA_DIR/);
  });
});

describe('a killed holder not yet reaped by its parent (a zombie)', () => {
  it('counts as dead: its lock is taken over at once, not refused', async () => {
    // `sleep 0.1` becomes a child of `sleep 5`, which never waits: a zombie for ~5 s
    const sh = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const pid = Number(await new Promise<string>((resolve) => sh.stdout!.once('data', (c) => resolve(String(c).trim()))));
    await new Promise((r) => setTimeout(r, 400));
    try {
      expect(readFileSync(`/proc/${pid}/stat`, 'utf8')).toMatch(/\) Z /);
      expect(liveness(info({ pid }))).toBe('dead');
      const d = dir();
      writeFileSync(join(d, LOCK_FILE), JSON.stringify(info({ pid })));
      const lock = await lockDataDir(d, { port: 8080, log: silentLogger });
      expect(JSON.parse(readFileSync(join(d, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
      lock.release();
    } finally {
      sh.kill('SIGKILL');
    }
  });
});
