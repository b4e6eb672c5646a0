// Exclusive lock files for workspaces: one per cache repository (while it is fetched or
// worktrees are added and removed), one per branch and one per run (for as long as a run
// works in its worktree). Two runs on one branch would overwrite each other's commits, and
// git itself only half-protects a cache that several processes fetch into at once.
//
// The same exclusive lock files as the data dir lock (shared/lockfile: link(2), and a dead
// holder's lock removed by exactly one taker).
//
// Unlike the data dir, a cache directory may sit on a volume shared by pods on several
// hosts, where a pid means nothing. So the holder touches its lock every few seconds, and a
// lock from another host untouched for `staleAfterMs` counts as dead too.
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { RetryableError } from '../../errors/index.js';
import { holderRecord, liveness, mtimeMs, parseRecord, readText, removeGeneration, sleep, tryLink, unlinkQuiet, type HolderRecord } from '../../lockfile/index.js';

/** What a workspace lock file holds: the holder's record, and who holds it and why. */
export interface WorkspaceLockInfo extends HolderRecord {
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

const myRecord = (owner: string): WorkspaceLockInfo => ({ ...holderRecord(), owner });

function parse(text: string | undefined): WorkspaceLockInfo | undefined {
  const v = parseRecord<WorkspaceLockInfo>(text);
  return v && { ...v, owner: typeof v.owner === 'string' ? v.owner : 'unknown' };
}

/** Whether the holder is gone: dead on this host, or silent too long on another one. */
function holderGone(path: string, holder: HolderRecord, staleAfterMs: number): boolean {
  const state = liveness(holder);
  if (state === 'dead') return true;
  if (state === 'alive') return false;
  const touched = mtimeMs(path);
  return touched !== undefined && Date.now() - touched > staleAfterMs;
}

/** A stale lock (or a dead taker's claim) is cleared by exactly one taker (shared/lockfile). */
const removeStale = (path: string, gen: string, seen: string, staleAfterMs: number) =>
  removeGeneration(path, gen, seen, { takerGone: (claim, taker) => holderGone(claim, taker, staleAfterMs) });

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
