// Exclusive lock files for workspaces: one per cache repository (while it is fetched or
// worktrees are added and removed), one per branch and one per run (for as long as a run
// works in its worktree). Two runs on one branch would overwrite each other's commits, and
// git itself only half-protects a cache that several processes fetch into at once.
//
// The same scheme as the data dir lock (`shared/local/lock.ts`, whose liveness check is
// reused): the holder's record (pid, host, boot id, process start, a nonce) is written to a
// private temp file and hard-linked to the lock's name — link(2) fails when the name
// exists, so exactly one taker wins and nobody reads a half-written lock. A lock whose
// holder is dead (a killed pod, a crashed run) is removed, but only by whoever first claims
// `<lock>.takeover-<its nonce>` (again by link), so two takers cannot both judge the same
// stale lock, and the second one unlink the first one's fresh lock.
//
// Unlike the data dir, a cache directory may sit on a volume shared by pods on several
// hosts, where a pid means nothing. So the holder touches its lock every few seconds, and a
// lock from another host untouched for `staleAfterMs` counts as dead too.
import { randomUUID } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { RetryableError } from '../../errors/index.js';
import { liveness, type LockInfo } from '../../local/lock.js';

/** What a workspace lock file holds: the data dir lock's record plus who holds it and why. */
export interface WorkspaceLockInfo extends LockInfo {
  /** The run (or other owner) holding it, for the "in use by" message. */
  readonly owner: string;
}

export interface HeldLock {
  readonly path: string;
  readonly info: WorkspaceLockInfo;
  /** Removes the lock if it is still ours; safe to call twice. */
  release(): void;
}

export interface LockOptions {
  /** What is locked, for the error ("branch feature/x of github.com/o/r"). */
  readonly what: string;
  /** Who asks (a run id), written into the lock. */
  readonly owner: string;
  /** Give up after waiting this long for a live holder. */
  readonly timeoutMs: number;
  /** A lock from another host untouched this long is stale. Default 2 minutes. */
  readonly staleAfterMs?: number;
}

const HEARTBEAT_MS = 10_000;

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
};

const readProc = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

const mtimeMs = (path: string): number | undefined => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
};

const unlinkQuiet = (path: string): void => {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** This process's start time in clock ticks since boot (field 22 of /proc/self/stat). */
function selfStart(): string | null {
  const stat = readProc('/proc/self/stat');
  return stat ? (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null) : null;
}

function myRecord(owner: string): WorkspaceLockInfo {
  return {
    pid: process.pid,
    port: 0,
    url: null,
    startedAt: new Date().toISOString(),
    host: hostname(),
    bootId: readProc('/proc/sys/kernel/random/boot_id')?.trim() || null,
    procStart: selfStart(),
    nonce: randomUUID(),
    owner,
  };
}

function parse(text: string | undefined): WorkspaceLockInfo | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<WorkspaceLockInfo>;
    if (typeof v.pid !== 'number' || typeof v.nonce !== 'string' || typeof v.host !== 'string') return undefined;
    return { ...(v as WorkspaceLockInfo), owner: typeof v.owner === 'string' ? v.owner : 'unknown' };
  } catch {
    return undefined;
  }
}

/** Link `from` to `to`; false when `to` exists. */
function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // no hard links on this filesystem: exclusive create instead (readers that find it
    // empty for a moment wait, see the damaged-lock rule)
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP') {
      try {
        writeFileSync(to, readFileSync(from), { flag: 'wx' });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e;
      }
    }
    throw err;
  }
}

/** Whether the holder is gone: dead on this host, or silent too long on another one. */
function holderGone(path: string, holder: WorkspaceLockInfo, staleAfterMs: number): boolean {
  const state = liveness(holder);
  if (state === 'dead') return true;
  if (state === 'alive') return false;
  const touched = mtimeMs(path);
  return touched !== undefined && Date.now() - touched > staleAfterMs;
}

/**
 * Unlinks `path` if it still holds `seen` (a dead holder's record), exclusively: only the
 * process that links `<path>.takeover-<gen>` may do it. Returns without doing anything when
 * another process is doing it right now; the caller looks again.
 */
async function removeStale(path: string, gen: string, seen: string, staleAfterMs: number, depth = 0): Promise<void> {
  if (depth > 5) return;
  const claim = `${path}.takeover-${gen.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64)}`;
  const mine = myRecord('takeover');
  const tmp = `${claim}.${mine.nonce}.tmp`;
  writeFileSync(tmp, JSON.stringify(mine), { flag: 'wx' });
  try {
    if (tryLink(tmp, claim)) {
      try {
        if (readText(path) === seen) unlinkQuiet(path);
      } finally {
        unlinkQuiet(claim);
      }
      return;
    }
  } finally {
    unlinkQuiet(tmp);
  }
  const text = readText(claim);
  if (text === undefined) return; // that taker just finished
  const taker = parse(text);
  if (taker && !holderGone(claim, taker, staleAfterMs)) {
    await sleep(20);
    return;
  }
  // a taker that died between its claim and its unlink: its claim is stale in turn
  await removeStale(claim, taker?.nonce ?? `damaged${depth}`, text, staleAfterMs, depth + 1);
}

function describe(holder: WorkspaceLockInfo | undefined): string {
  if (!holder) return 'a process whose lock cannot be read';
  return `${holder.owner} (pid ${holder.pid} on ${holder.host}, since ${holder.startedAt})`;
}

function handle(path: string, info: WorkspaceLockInfo): HeldLock {
  let released = false;
  const ours = () => parse(readText(path))?.nonce === info.nonce;
  // the heartbeat that tells other hosts we still live; never keeps the process alive
  const beat = setInterval(() => {
    try {
      const now = new Date();
      if (ours()) utimesSync(path, now, now);
    } catch {
      // a vanished lock is noticed at release
    }
  }, HEARTBEAT_MS);
  beat.unref();
  return {
    path,
    info,
    release() {
      if (released) return;
      released = true;
      clearInterval(beat);
      try {
        if (ours()) unlinkQuiet(path);
      } catch {
        // unreadable: leave it; its holder (us) is about to be gone, so it is stale
      }
    },
  };
}

/**
 * Takes the lock at `path` (its directory is created), waiting up to `timeoutMs` for a live
 * holder to let go and clearing a dead holder's lock at once. Throws a RetryableError
 * `workspace_locked` naming the holder when the wait runs out: the holder will finish.
 */
export async function acquireLock(path: string, opts: LockOptions): Promise<HeldLock> {
  mkdirSync(dirname(path), { recursive: true });
  const staleAfterMs = opts.staleAfterMs ?? 120_000;
  const info = myRecord(opts.owner);
  const tmp = `${path}.${info.nonce}.tmp`;
  writeFileSync(tmp, JSON.stringify(info), { flag: 'wx' });
  const deadline = Date.now() + opts.timeoutMs;
  let last: WorkspaceLockInfo | undefined;
  try {
    for (;;) {
      if (tryLink(tmp, path)) return handle(path, info);
      const text = readText(path);
      if (text === undefined) continue; // released meanwhile
      const holder = parse(text);
      last = holder;
      if (!holder) {
        // empty (its writer is between create and write) or damaged: give it 2 s, then clear it
        const age = Date.now() - (mtimeMs(path) ?? Date.now());
        if (age > 2000) {
          await removeStale(path, `damaged-${Buffer.from(text).toString('base64url').slice(0, 32)}`, text, staleAfterMs);
          continue;
        }
      } else if (holderGone(path, holder, staleAfterMs)) {
        await removeStale(path, holder.nonce, text, staleAfterMs);
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(left, 50 + Math.floor(Math.random() * 100)));
    }
  } finally {
    unlinkQuiet(tmp);
  }
  throw new RetryableError(
    'workspace_locked',
    `${opts.what} is in use by ${describe(last)}; gave up after waiting ${opts.timeoutMs} ms`,
    1000,
  );
}

/** Takes the lock, runs `fn`, releases the lock whatever happens. */
export async function withLock<T>(path: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(path, opts);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
