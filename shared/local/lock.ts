// One process per data dir. PGlite does not lock its files: a second process opening the
// same directory wrecks the first one's database (`RuntimeError: Aborted()` at the next
// start, every idea gone). So local mode takes `<dataDir>/facteur.lock` before anything
// opens the database, and holds it for the process's life.
//
// The lock is an exclusive lock file (shared/lockfile: link(2), and a stale holder's lock
// removed by exactly one taker), holding the pid and port for the message a second start gets.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/index.js';
import { holderRecord, liveness, mtimeMs, parseRecord, readQuiet, readText, removeGeneration, sleep, tryLink, unlinkQuiet, type HolderRecord, type Liveness } from '../lockfile/index.js';
import { StartupError } from './errors.js';

export { liveness, type Liveness } from '../lockfile/index.js';

export interface LockInfo extends HolderRecord {
  readonly port: number;
  readonly url: string | null;
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

const parse = (text: string | undefined) => parseRecord<LockInfo>(text);

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
  const info: LockInfo = { ...holderRecord(), port: opts.port, url: null };
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
        if (Date.now() - (mtimeMs(path) ?? Date.now()) < 2000) await sleep(20);
        else await removeGeneration(path, `damaged-${Buffer.from(text).toString('base64url').slice(0, 32)}`, text, takeover(path, opts.log));
        continue;
      }
      const state = liveness(holder);
      if (state !== 'dead') throw heldBy(dataDir, holder, state);
      opts.log.warn('data dir lock: taking over a stale lock (its process is gone)', { pid: holder.pid, port: holder.port, startedAt: holder.startedAt });
      await removeGeneration(path, holder.nonce, text, takeover(path, opts.log));
    }
    throw new StartupError('data_dir_locked', `could not take ${path}: other processes keep taking it; try again`);
  } catch (err) {
    throw err instanceof StartupError ? err : notWritable(dataDir, err);
  } finally {
    unlinkQuiet(tmp);
  }
}

/** How the data dir lock clears takeovers: a dead taker's claim is cleared with a log line. */
function takeover(path: string, log: Logger) {
  return {
    takerGone: (_claim: string, taker: HolderRecord) => liveness(taker) !== 'alive',
    onDeadTaker: (claim: string, taker: HolderRecord | undefined) => log.warn('data dir lock: clearing a takeover left by a process that died', { claim, pid: taker?.pid }),
    tooDeep: () => {
      throw new StartupError('data_dir_locked', `could not clear the stale lock ${path}: delete it and its .takeover-* files by hand`);
    },
  };
}

function handle(path: string, first: LockInfo): DataDirLock {
  let info = first;
  let released = false;
  const ours = () => parse(readQuiet(path))?.nonce === info.nonce;
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
