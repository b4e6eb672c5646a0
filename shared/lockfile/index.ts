// Exclusive lock files without flock(2) (Node has none), shared by the data dir lock
// (shared/local/lock.ts) and facteur-agent's workspace locks (shared/agent/git/lock.ts).
//
// - Taking a free lock: the holder's record is written to a private temp file, then
//   hard-linked to the lock's name. link(2) fails with EEXIST when the name exists, so of two
//   takers at the same instant exactly one wins, and nobody reads a half-written lock.
// - A stale lock (its holder dead) must be removed before it can be taken, and "read, judge
//   stale, unlink" is a race: A unlinks the stale lock and links its own, then B, having
//   judged the same stale lock, unlinks A's live one. So removal is itself exclusive, per
//   lock generation: only the process that links `<lock>.takeover-<the stale lock's nonce>`
//   may unlink the lock, and only while it still holds that nonce (`removeGeneration`).
//   Nobody else can change a lock holding that nonce meanwhile (its owner is dead, fresh
//   takers get EEXIST), so the check-then-unlink cannot hit a live lock. A takeover file left
//   by a taker that died in those microseconds is stale in turn, removed by the same rule.
import { randomUUID } from 'node:crypto';
import { linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** What every lock file holds: enough to tell whether its holder still runs. */
export interface HolderRecord {
  readonly pid: number;
  readonly startedAt: string;
  readonly host: string;
  /** Linux: this boot's id, and the process's start in clock ticks since boot (pid reuse). */
  readonly bootId: string | null;
  readonly procStart: string | null;
  /** This lock's generation. */
  readonly nonce: string;
}

/** A file's text, or undefined when it does not exist (any other failure throws). */
export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A file's text, or undefined on any failure (for /proc, whose entries come and go). */
export function readQuiet(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function mtimeMs(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

export function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const bootId = (): string | null => readQuiet('/proc/sys/kernel/random/boot_id')?.trim() || null;

/** Fields of /proc/<pid>/stat after the command name: [0] is the state, [19] the start time. */
function statFields(pid: number | 'self'): string[] | undefined {
  const stat = readQuiet(`/proc/${pid}/stat`);
  return stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ') : undefined;
}

/** This process's record, with a fresh nonce. */
export function holderRecord(): HolderRecord {
  return {
    pid: process.pid, startedAt: new Date().toISOString(), host: hostname(),
    bootId: bootId(), procStart: statFields('self')?.[19] ?? null, nonce: randomUUID(),
  };
}

/** A lock file's record when it has the fields every holder writes; undefined when damaged. */
export function parseRecord<T extends HolderRecord>(text: string | undefined): T | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<T>;
    return typeof v.pid === 'number' && typeof v.nonce === 'string' && typeof v.host === 'string' ? (v as T) : undefined;
  } catch {
    return undefined;
  }
}

export type Liveness = 'alive' | 'dead' | 'other-host';

/** Whether the holder of a lock still runs (on this host: it cannot be told for another). */
export function liveness(info: HolderRecord): Liveness {
  if (info.host !== hostname()) return 'other-host';
  const boot = bootId();
  if (info.bootId && boot && info.bootId !== boot) return 'dead';
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'alive' : 'dead';
  }
  const fields = statFields(info.pid);
  // a killed process whose parent has not reaped it yet (a zombie: state Z) answers kill(0)
  // but holds nothing; seen right after `kill -9` when the parent is a container's init
  if (fields?.[0] === 'Z') return 'dead';
  // the pid runs, but is it still the same process? (after a crash, pids get reused)
  const started = info.procStart ? (fields?.[19] ?? null) : null;
  return started && started !== info.procStart ? 'dead' : 'alive';
}

/** Links `from` to `to`; false when `to` exists. */
export function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // a filesystem without hard links: exclusive create instead (the content follows at
    // once; readers that find it empty for a moment wait, see the damaged-lock rule)
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

export interface RemoveOptions {
  /** Whether the process holding a takeover claim is gone (its claim may be cleared in turn). */
  readonly takerGone: (claimPath: string, taker: HolderRecord) => boolean;
  /** Told when a dead taker's claim is cleared. */
  readonly onDeadTaker?: (claimPath: string, taker: HolderRecord | undefined) => void;
  /** Called when takers keep dying on top of each other; may throw. */
  readonly tooDeep?: () => void;
}

/**
 * Unlinks `path` if it still holds `seen` (generation `gen`, whose holder is gone),
 * exclusively: see the header. Returns without doing anything when another process is doing
 * it right now; the caller looks again.
 */
export async function removeGeneration(path: string, gen: string, seen: string, opts: RemoveOptions, depth = 0): Promise<void> {
  if (depth > 5) return opts.tooDeep?.();
  const claim = `${path}.takeover-${gen.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64)}`;
  const mine = holderRecord();
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
  const taker = parseRecord(text);
  if (taker && !opts.takerGone(claim, taker)) {
    await sleep(20); // someone else is taking it over right now
    return;
  }
  opts.onDeadTaker?.(claim, taker);
  await removeGeneration(claim, taker?.nonce ?? `damaged-${depth}`, text, opts, depth + 1);
}
