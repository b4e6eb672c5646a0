// The per-run event counter, shared by every `facteur-step` invocation of a step (a
// background heartbeat loop and an artifact upload may run at the same moment). An
// exclusive lockfile (`open(…, 'wx')`) guards read-increment-write; the new value is
// fsynced to a temporary file and renamed over the old one, so a crash leaves either the
// old or the new number, never a torn one.
import { randomUUID } from 'node:crypto';
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface SeqOptions {
  /** A lock older than this is taken to be left by a crashed holder (it is held for ms). */
  readonly staleMs?: number;
  /** Give up waiting for the lock after this long. */
  readonly lockTimeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const COUNTER = 'seq';
const LOCK = 'seq.lock';

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const codeOf = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

/** Takes the next seq (1, 2, 3 …) for the run whose state lives in `stateDir`. */
export async function nextSeq(stateDir: string, options: SeqOptions = {}): Promise<number> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const release = await acquire(join(stateDir, LOCK), options);
  try {
    const seq = (await readCounter(stateDir)) + 1;
    await writeCounter(stateDir, seq);
    return seq;
  } finally {
    await release();
  }
}

/** The last seq handed out (0 when none was). */
export async function readCounter(stateDir: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(join(stateDir, COUNTER), 'utf8');
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return 0;
    throw err;
  }
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`seq counter ${join(stateDir, COUNTER)} is corrupt (${JSON.stringify(text.slice(0, 40))})`);
  }
  return n;
}

async function writeCounter(stateDir: string, seq: number): Promise<void> {
  const tmp = join(stateDir, `${COUNTER}.${process.pid}.${randomUUID()}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(`${seq}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(stateDir, COUNTER));
}

async function acquire(lockPath: string, options: SeqOptions): Promise<() => Promise<void>> {
  const staleMs = options.staleMs ?? 10_000;
  const deadline = Date.now() + (options.lockTimeoutMs ?? 30_000);
  const sleep = options.sleep ?? realSleep;
  const owner = `${process.pid} ${hostname()} ${randomUUID()}`;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx', 0o600);
      try {
        await fh.writeFile(owner);
      } finally {
        await fh.close();
      }
      return () => releaseLock(lockPath, owner);
    } catch (err) {
      if (codeOf(err) !== 'EEXIST') throw err;
    }
    const seen = await staleContent(lockPath, staleMs);
    if (seen !== undefined) {
      await breakLock(lockPath, seen);
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the seq lock ${lockPath}`);
    await sleep(2 + Math.random() * 10);
  }
}

/** The lock's content when its holder is gone (dead pid on this host, or too old). */
async function staleContent(lockPath: string, staleMs: number): Promise<string | undefined> {
  let content: string;
  let mtimeMs: number;
  try {
    [content, { mtimeMs }] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return undefined; // released meanwhile: just retry
    throw err;
  }
  if (Date.now() - mtimeMs > staleMs) return content;
  // An empty lock is one being written right now: only age can make it stale.
  const [pid, host] = content.split(' ');
  if (host === hostname() && pid !== undefined && !isAlive(Number(pid))) return content;
  return undefined;
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return codeOf(err) === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Removes a stale lock without removing a fresh one that replaced it after we looked: move
 * it aside, check it is the one judged stale, and if not, put it back.
 */
async function breakLock(lockPath: string, seen: string): Promise<void> {
  const grave = `${lockPath}.${process.pid}.${randomUUID()}.stale`;
  try {
    await rename(lockPath, grave);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return; // someone else broke or released it
    throw err;
  }
  const moved = await readFile(grave, 'utf8').catch(() => seen);
  if (moved !== seen) await link(grave, lockPath).catch(() => undefined);
  await unlink(grave).catch(() => undefined);
}

async function releaseLock(lockPath: string, owner: string): Promise<void> {
  // Only remove the lock if it is still ours (it may have been broken as stale).
  const content = await readFile(lockPath, 'utf8').catch(() => undefined);
  if (content === owner) await unlink(lockPath).catch(() => undefined);
}
