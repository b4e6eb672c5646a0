// Workspace lock files on a real filesystem: exclusive between holders, a dead holder's lock
// taken over, and a lock from another host judged by its heartbeat (its mtime).
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock } from '../../../shared/agent/git/lock.js';
import { removeTempDirs, tempDir } from './repo.js';

afterAll(removeTempDirs);

const record = (over: Record<string, unknown>) => JSON.stringify({
  pid: 1, port: 0, url: null, startedAt: '2020-01-01T00:00:00Z', host: 'elsewhere', bootId: null, procStart: null, nonce: 'n-1', owner: 'run old', ...over,
});

describe('acquireLock', () => {
  it('is exclusive until released', async () => {
    const path = join(tempDir(), 'locks', 'x.lock');
    const a = await acquireLock(path, { what: 'x', owner: 'run a', timeoutMs: 100 });
    await expect(acquireLock(path, { what: 'x', owner: 'run b', timeoutMs: 150 })).rejects.toMatchObject({ code: 'workspace_locked' });
    a.release();
    a.release();
    expect(existsSync(path)).toBe(false);
    const b = await acquireLock(path, { what: 'x', owner: 'run b', timeoutMs: 100 });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ owner: 'run b', pid: process.pid });
    b.release();
  });

  it('only one of many simultaneous takers wins', async () => {
    const path = join(tempDir(), 'race.lock');
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => acquireLock(path, { what: 'race', owner: `r${i}`, timeoutMs: 50 })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('takes over a lock of a dead process on this host at once', async () => {
    const path = join(tempDir(), 'dead.lock');
    // pid 2^22 + 1 is above Linux's pid_max: no such process
    writeFileSync(path, record({ host: hostname(), pid: 4_194_305 }));
    const l = await acquireLock(path, { what: 'dead', owner: 'run new', timeoutMs: 100 });
    expect(JSON.parse(readFileSync(path, 'utf8')).owner).toBe('run new');
    l.release();
  });

  it('judges another host’s lock by its heartbeat', async () => {
    const path = join(tempDir(), 'remote.lock');
    writeFileSync(path, record({}));
    await expect(acquireLock(path, { what: 'remote', owner: 'run new', timeoutMs: 150, staleAfterMs: 60_000 }))
      .rejects.toThrow(/in use by run old \(pid 1 on elsewhere/);
    const old = new Date(Date.now() - 120_000);
    utimesSync(path, old, old);
    const l = await acquireLock(path, { what: 'remote', owner: 'run new', timeoutMs: 150, staleAfterMs: 60_000 });
    expect(JSON.parse(readFileSync(path, 'utf8')).owner).toBe('run new');
    l.release();
  });
});
