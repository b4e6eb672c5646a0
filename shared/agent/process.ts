// Runs one command of the target repository (an install, a build, a test suite) as a child
// process and always comes back with a result, never a throw: the gates report what happened,
// including "not found", "timed out" and "killed", so a run's failure can be classified.
//
// Why it is more than `execFile`: test runners fork workers and servers, so a timeout must
// kill the whole process group (the command runs in its own group, `detached`), not just the
// leader; and a suite can print tens of megabytes, so only the tail is kept, in a bounded
// list of chunks, while every byte is still counted.
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface RunOptions {
  readonly cwd: string;
  /** The child's whole environment (default: this process's). Secrets are the caller's concern. */
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  /** How much of the output is kept, the last bytes (default 1 MiB). */
  readonly capBytes?: number;
  /** Called every `tickMs` while the command runs: the caller sends heartbeats there. */
  readonly onTick?: (outputSoFar: () => string) => void;
  readonly tickMs?: number;
  /** Aborting kills the command's process group, as a timeout does. */
  readonly signal?: AbortSignal;
  /** Written to the child's stdin, which is then closed (default: stdin is /dev/null). */
  readonly stdin?: string;
}

export interface CommandResult {
  /** The exit code; null when a signal ended it. 127 when the program was not found, 126 when it could not be run. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** Ended because `signal` was aborted. */
  readonly aborted: boolean;
  readonly durationMs: number;
  /** stdout and stderr interleaved as they arrived; only the last `capBytes`, valid UTF-8. */
  readonly output: string;
  /** Every byte the command printed, kept or not. */
  readonly outputBytes: number;
  readonly truncated: boolean;
}

export const DEFAULT_CAP_BYTES = 1024 * 1024;
/** Between SIGTERM and SIGKILL: long enough for a test runner to print its summary. */
export const KILL_GRACE_MS = 2_000;
const DEFAULT_TICK_MS = 10_000;
/**
 * After the leader exited, how long its pipes may stay open (held by a forgotten background
 * process) before what is left of the group is killed and the result returned anyway.
 */
const DRAIN_MS = 500;

/**
 * Keeps the last `cap` bytes of a stream of chunks. Memory stays at about `cap` plus one
 * chunk whatever the command prints (a chunk from a pipe is at most 64 KiB).
 */
class TailBuffer {
  private chunks: Buffer[] = [];
  private kept = 0;
  total = 0;
  dropped = false;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (chunk.length === 0) return;
    if (chunk.length >= this.cap) {
      this.dropped = this.dropped || chunk.length > this.cap || this.kept > 0;
      this.chunks = [chunk.subarray(chunk.length - this.cap)];
      this.kept = this.cap;
      return;
    }
    this.chunks.push(chunk);
    this.kept += chunk.length;
    while (this.kept > this.cap) {
      const first = this.chunks[0]!;
      const excess = this.kept - this.cap;
      this.dropped = true;
      if (first.length <= excess) {
        this.chunks.shift();
        this.kept -= first.length;
      } else {
        // Copied, so the dropped part of a big chunk is not kept alive by the slice.
        this.chunks[0] = Buffer.from(first.subarray(excess));
        this.kept -= excess;
      }
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks, this.kept);
    // The cut may have landed inside a character: skip its continuation bytes (10xxxxxx).
    let start = 0;
    if (this.dropped) while (start < all.length && start < 4 && (all[start]! & 0xc0) === 0x80) start++;
    return all.subarray(start).toString('utf8');
  }
}

/**
 * Where the trailing incomplete UTF-8 sequence of `buf` starts (buf.length when it ends on a
 * whole character). stdout and stderr interleave, so a character split across two reads of
 * one stream is held back until its rest arrives rather than cut by the other stream.
 */
export function incompleteUtf8Start(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const byte = buf[buf.length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? buf.length - back : buf.length;
  }
  return buf.length;
}

function errorResult(exitCode: number, line: string, startedAt: number): CommandResult {
  const output = `${line}\n`;
  return Object.freeze({
    exitCode,
    signal: null,
    timedOut: false,
    aborted: false,
    durationMs: Math.round(performance.now() - startedAt),
    output,
    outputBytes: Buffer.byteLength(output),
    truncated: false,
  });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Signals the whole process group; a group that is already gone is not an error. */
function signalGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    // ESRCH: every member has exited already.
  }
}

function callTick(onTick: (outputSoFar: () => string) => void, outputSoFar: () => string): void {
  try {
    const r: unknown = onTick(outputSoFar);
    // A heartbeat sender may be async; its failure must not end the command.
    if (r instanceof Promise) r.catch(() => undefined);
  } catch {
    // Same: a failing heartbeat is the caller's to log, not a reason to stop the gate.
  }
}

/** Runs `argv` (no shell) in its own process group; resolves with what happened. */
export function runCommand(argv: readonly string[], opts: RunOptions): Promise<CommandResult> {
  const startedAt = performance.now();
  const program = argv[0];
  if (program === undefined || program === '') return Promise.resolve(errorResult(127, 'facteur: empty command', startedAt));
  if (!isDirectory(opts.cwd)) {
    return Promise.resolve(errorResult(127, `facteur: working directory not found: ${opts.cwd}`, startedAt));
  }
  if (opts.signal?.aborted) {
    return Promise.resolve({ ...errorResult(130, 'facteur: aborted before start', startedAt), exitCode: null, aborted: true });
  }
  const cap = Math.max(1, opts.capBytes ?? DEFAULT_CAP_BYTES);
  const tail = new TailBuffer(cap);

  let child: ChildProcess;
  try {
    child = spawn(program, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      shell: false,
      detached: true,
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    // Thrown before any process exists: an argument or variable holding a NUL byte.
    return Promise.resolve(errorResult(126, `facteur: cannot run ${program}: ${(err as Error).message}`, startedAt));
  }

  return new Promise<CommandResult>((resolve) => {
    let timedOut = false;
    let aborted = false;
    let settled = false;
    let exit: { code: number | null; signal: string | null } | undefined;
    let spawnError: NodeJS.ErrnoException | undefined;
    let open = 2; // stdout and stderr
    const timers: NodeJS.Timeout[] = [];

    const stop = (why: 'timeout' | 'abort') => {
      if (exit || settled) return;
      if (why === 'timeout') timedOut = true;
      else aborted = true;
      signalGroup(child, 'SIGTERM');
      timers.push(setTimeout(() => signalGroup(child, 'SIGKILL'), KILL_GRACE_MS));
    };
    const onAbort = () => stop('abort');

    const finish = () => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      // Whatever the leader left behind in its group (a server a test forgot) dies with it.
      signalGroup(child, 'SIGKILL');
      if (spawnError) {
        const notFound = spawnError.code === 'ENOENT';
        const line = notFound ? `facteur: command not found: ${program}` : `facteur: cannot run ${program}: ${spawnError.code ?? spawnError.message}`;
        resolve(errorResult(notFound ? 127 : 126, line, startedAt));
        return;
      }
      resolve(
        Object.freeze({
          exitCode: exit?.code ?? null,
          signal: exit?.signal ?? null,
          timedOut,
          aborted,
          durationMs: Math.round(performance.now() - startedAt),
          output: tail.text(),
          outputBytes: tail.total,
          truncated: tail.dropped,
        }),
      );
    };
    const maybeFinish = () => {
      if (exit && open === 0) finish();
    };

    for (const stream of [child.stdout, child.stderr]) {
      let pending: Buffer | undefined;
      stream?.on('data', (chunk: Buffer) => {
        const data = pending ? Buffer.concat([pending, chunk]) : chunk;
        const cut = incompleteUtf8Start(data);
        pending = cut < data.length ? Buffer.from(data.subarray(cut)) : undefined;
        tail.push(cut < data.length ? data.subarray(0, cut) : data);
      });
      stream?.on('close', () => {
        if (pending) tail.push(pending);
        pending = undefined;
        open--;
        maybeFinish();
      });
    }
    if (opts.stdin !== undefined && child.stdin) {
      // A command that exits without reading its input makes the write fail with EPIPE.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.stdin);
    }

    child.on('error', (err: NodeJS.ErrnoException) => {
      // Only spawn failures arrive here without an exit; kill failures are ignored above.
      if (child.pid === undefined) {
        spawnError = err;
        exit = { code: null, signal: null };
        finish();
      }
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // Pipes held open by a grandchild must not keep the gate waiting until its timeout.
      timers.push(setTimeout(finish, timedOut || aborted ? KILL_GRACE_MS : DRAIN_MS));
      maybeFinish();
    });

    timers.push(setTimeout(() => stop('timeout'), opts.timeoutMs));
    if (opts.onTick) {
      const onTick = opts.onTick;
      timers.push(setInterval(() => callTick(onTick, () => tail.text()), Math.max(10, opts.tickMs ?? DEFAULT_TICK_MS)));
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
