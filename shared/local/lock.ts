// One process per data dir. PGlite does not lock its files: a second process opening the
// same directory wrecks the first one's database (`RuntimeError: Aborted()` at the next
// start, every idea gone). So local mode takes `<dataDir>/facteur.lock` before anything
// opens the database, and holds it for the process's life.
//
// Node has no flock(2), so the lock is a file whose creation is atomic and exclusive:
// - Taking a free lock: the content is written to a private temp file, then hard-linked to
//   `facteur.lock`. link(2) fails with EEXIST when the name exists, so of two starts at the
//   same instant exactly one wins, and nobody ever reads a half-written lock.
// - A stale lock (its pid gone from this host, or reused by another program, or from
//   before a reboot) must be removed before it can be taken, and "read, judge stale,
//   unlink" is a race: A unlinks the stale lock and links its own, then B, having judged
//   the same stale lock, unlinks A's live one and links its own: both would win. So
//   removal is itself exclusive, per lock generation: only the process that creates
//   `facteur.lock.takeover-<nonce of the stale lock>` (link again: one winner) may unlink
//   `facteur.lock`, and only while it still holds that nonce. Nobody else can change a
//   lock holding that nonce meanwhile (its owner is dead, fresh takers get EEXIST), so the
//   check-then-unlink cannot hit a live lock. A takeover file left by a taker that died in
//   those few microseconds is stale in turn and removed by the same rule.
import { randomUUID } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log/index.js';
import { StartupError } from './errors.js';

export interface LockInfo {
  readonly pid: number;
  readonly port: number;
  readonly url: string | null;
  readonly startedAt: string;
  readonly host: string;
  /** Linux: this boot's id, and the process's start in clock ticks since boot (pid reuse). */
  readonly bootId: string | null;
  readonly procStart: string | null;
  /** This lock's generation. */
  readonly nonce: string;
}

export interface DataDirLock {
  readonly path: string;
  readonly info: LockInfo;
  /** Records the port and URL once the server listens (PORT=0 picks one). */
  update(port: number, url: string): void;
  /** Removes the lock if it is still ours; safe to call twice, synchronous (exit handlers). */
  release(): void;
}

export const LOCK_FILE = 'facteur.lock';

/** A file's text, or undefined when it does not exist (any other failure throws). */
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

const bootId = (): string | null => readProc('/proc/sys/kernel/random/boot_id')?.trim() || null;

/** Field 22 of /proc/<pid>/stat: when the process started, in ticks since boot. */
function procStart(pid: number | 'self'): string | null {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return null;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

/** Field 3 of /proc/<pid>/stat: R, S, D, Z (zombie), … */
function procState(pid: number): string | null {
  const stat = readProc(`/proc/${pid}/stat`);
  return stat ? (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null) : null;
}

function parse(text: string | undefined): LockInfo | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    return typeof v.pid === 'number' && typeof v.nonce === 'string' && typeof v.host === 'string' ? (v as LockInfo) : undefined;
  } catch {
    return undefined;
  }
}

export type Liveness = 'alive' | 'dead' | 'other-host';

/** Whether the holder of a lock still runs (on this host: it cannot be told for another). */
export function liveness(info: LockInfo): Liveness {
  if (info.host !== hostname()) return 'other-host';
  const boot = bootId();
  if (info.bootId && boot && info.bootId !== boot) return 'dead';
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'alive' : 'dead';
  }
  // a killed process whose parent has not reaped it yet (a zombie: state Z) answers kill(0)
  // but holds nothing; seen right after `kill -9` when the parent is a container's init
  if (procState(info.pid) === 'Z') return 'dead';
  // the pid runs, but is it still the same process? (after a crash, pids get reused)
  const started = info.procStart ? procStart(info.pid) : null;
  return started && started !== info.procStart ? 'dead' : 'alive';
}

function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // a filesystem without hard links: exclusive create (content follows at once; readers
    // that find it still empty wait, see `unreadableSince`)
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

const unlinkQuiet = (path: string) => {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function notWritable(dataDir: string, err: unknown): StartupError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return new StartupError(
    'data_dir_not_writable',
    `the data dir ${dataDir} is not writable (${code}): fix its permissions, or point FACTEUR_DATA_DIR at a directory you can write`,
    { cause: err },
  );
}

function heldBy(dataDir: string, holder: LockInfo, state: Liveness): StartupError {
  const where = holder.url ?? `port ${holder.port}`;
  const since = holder.startedAt ? `, since ${holder.startedAt}` : '';
  const what =
    state === 'other-host'
      ? `Facteur on host ${holder.host} (pid ${holder.pid}, ${where}${since}): stop it there, or delete ${join(dataDir, LOCK_FILE)} if it no longer runs`
      : `another Facteur, pid ${holder.pid} at ${where}${since}: use that one, stop it first (Ctrl-C in its terminal, or kill ${holder.pid}), or start this one with another FACTEUR_DATA_DIR`;
  return new StartupError('data_dir_locked', `the data dir ${dataDir} is in use by ${what}`);
}

/**
 * Takes the data dir's lock or throws a StartupError (`data_dir_locked`,
 * `data_dir_not_writable`). The directory is created if needed.
 */
export async function lockDataDir(dataDir: string, opts: { port: number; log: Logger }): Promise<DataDirLock> {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw notWritable(dataDir, err);
  }
  const path = join(dataDir, LOCK_FILE);
  const info: LockInfo = {
    pid: process.pid, port: opts.port, url: null, startedAt: new Date().toISOString(), host: hostname(),
    bootId: bootId(), procStart: procStart('self'), nonce: randomUUID(),
  };
  const tmp = `${path}.${info.nonce}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(info), { flag: 'wx' });
  } catch (err) {
    throw notWritable(dataDir, err);
  }
  try {
    for (let round = 0; round < 500; round++) {
      if (tryLink(tmp, path)) return handle(path, info);
      const text = readText(path);
      if (text === undefined) continue; // released meanwhile: try again
      const holder = parse(text);
      if (!holder) {
        // empty (its writer is between create and write) or damaged: wait, then clear it
        if (Date.now() - (statSafe(path) ?? Date.now()) < 2000) await sleep(20);
        else await removeGeneration(path, `damaged-${Buffer.from(text).toString('base64url').slice(0, 32)}`, text, opts.log);
        continue;
      }
      const state = liveness(holder);
      if (state !== 'dead') throw heldBy(dataDir, holder, state);
      opts.log.warn('data dir lock: taking over a stale lock (its process is gone)', { pid: holder.pid, port: holder.port, startedAt: holder.startedAt });
      await removeGeneration(path, holder.nonce, text, opts.log);
    }
    throw new StartupError('data_dir_locked', `could not take ${path}: other processes keep taking it; try again`);
  } catch (err) {
    throw err instanceof StartupError ? err : notWritable(dataDir, err);
  } finally {
    unlinkQuiet(tmp);
  }
}

const statSafe = (path: string): number | undefined => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
};

/**
 * Unlinks `path` if it still holds generation `gen` (whose holder is dead), exclusively: see
 * the header. Returns without doing anything when another process is doing it right now.
 */
async function removeGeneration(path: string, gen: string, seen: string, log: Logger, depth = 0): Promise<void> {
  if (depth > 5) throw new StartupError('data_dir_locked', `could not clear the stale lock ${path}: delete it and its .takeover-* files by hand`);
  const claim = `${path}.takeover-${gen.replace(/[^A-Za-z0-9_-]/g, '')}`;
  const mine: LockInfo = {
    pid: process.pid, port: 0, url: null, startedAt: new Date().toISOString(), host: hostname(),
    bootId: bootId(), procStart: procStart('self'), nonce: randomUUID(),
  };
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
  const taker = parse(text);
  if (text === undefined) return; // that taker just finished
  if (taker && liveness(taker) === 'alive') {
    await sleep(20); // someone else is taking it over right now; the caller looks again
    return;
  }
  log.warn('data dir lock: clearing a takeover left by a process that died', { claim, pid: taker?.pid });
  await removeGeneration(claim, taker?.nonce ?? `damaged-${depth}`, text, log, depth + 1);
}

function handle(path: string, first: LockInfo): DataDirLock {
  let info = first;
  let released = false;
  const ours = () => parse(readProc(path))?.nonce === info.nonce;
  return {
    path,
    get info() {
      return info;
    },
    update(port, url) {
      if (released || !ours()) return;
      info = { ...info, port, url };
      // same generation, new content: rename over our own lock is atomic for readers
      const tmp = `${path}.${info.nonce}.update.tmp`;
      writeFileSync(tmp, JSON.stringify(info));
      renameSync(tmp, path);
    },
    release() {
      if (released) return;
      released = true;
      if (ours()) unlinkQuiet(path);
    },
  };
}
