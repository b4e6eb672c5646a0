// `npm start` as a real process (bin/facteur-local.ts through tsx), each on a data dir and a
// port of its own: started, waited for, signalled, killed, and its output read.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Proc {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** stdout + stderr so far. */
  output(): string;
  stderr(): string;
  /** Resolves with the exit code (or 128 + signal number). */
  readonly exited: Promise<number>;
  /** Resolves once `pattern` appears in the output (rejects if the process exits first). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

const SIGNALS: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Environment of the spawning test minus what would leak into local mode's config. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k === 'DATABASE_URL' || k.startsWith('FACTEUR_') || k.startsWith('EXAMPLE_') || k === 'PORT') continue;
    env[k] = v;
  }
  return env;
}

export function run(entry: string, env: Record<string, string>, args: string[] = []): Proc {
  const proc = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => {
    out += c;
    err += c;
  });
  const exited = new Promise<number>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? 128 + (SIGNALS[signal ?? ''] ?? 0))));
  return {
    proc,
    pid: proc.pid!,
    output: () => out,
    stderr: () => err,
    exited,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`no ${pattern} after ${timeoutMs} ms:\n${out}`)), timeoutMs);
        const check = () => pattern.test(out) && done();
        const onExit = () => setTimeout(() => (pattern.test(out) ? done() : done(new Error(`exited before ${pattern}:\n${out}`))), 50);
        const done = (e?: Error) => {
          clearTimeout(timer);
          proc.stdout!.off('data', check);
          proc.stderr!.off('data', check);
          proc.off('exit', onExit);
          if (e) reject(e);
          else resolve();
        };
        proc.stdout!.on('data', check);
        proc.stderr!.on('data', check);
        proc.on('exit', onExit);
        check();
      }),
  };
}

export const READY = /"msg":"Facteur local mode ready"/;

/** Starts local mode and waits until it serves. */
export async function startLocalProcess(env: Record<string, string>): Promise<Proc> {
  const p = run('bin/facteur-local.ts', { FACTEUR_LOG_LEVEL: 'info', ...env });
  await p.waitFor(READY, 60_000);
  return p;
}

/** Stops a process (if it still runs) and returns its exit code. */
export async function stop(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
  if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill(signal);
  return p.exited;
}

export function tempDir(prefix = 'facteur-lm-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export const removeDir = (dir: string) => rmSync(dir, { recursive: true, force: true });

/** Non-empty lines of a process's stderr. */
export const lines = (text: string) => text.split('\n').filter((l) => l.trim());

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The stage processes recorded in `<dataDir>/runs/*\/owner.json`. */
export function stagePids(dataDir: string): number[] {
  const runs = join(dataDir, 'runs');
  if (!existsSync(runs)) return [];
  return readdirSync(runs).flatMap((d) => {
    try {
      return [(JSON.parse(readFileSync(join(runs, d, 'owner.json'), 'utf8')) as { pid: number }).pid];
    } catch {
      return [];
    }
  });
}

export const runDirs = (dataDir: string): string[] => (existsSync(join(dataDir, 'runs')) ? readdirSync(join(dataDir, 'runs')) : []);

/** A pid that certainly ran and is certainly gone. */
export async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => p.on('exit', r));
  return p.pid!;
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`${what}: not after ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
