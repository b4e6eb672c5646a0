// Local mode's stand-in for Argo: each submitted Workflow runs as a child process with the
// environment and inputs an Argo step gets (see knative/workflow-templates/), here
// `facteur-agent <stage>`, which does the stage's work in a real git worktree and reports
// over HTTP exactly like a step in a cluster. Named by workflow name, so a re-submit of a name that
// is still running is AlreadyExists, as in Argo.
//
// Each run works in its own directory under one parent per process (`runsDir`, local mode:
// `<dataDir>/runs/`), removed when the run ends and when the runner closes; what a killed
// process left there is swept at the next start (sweepRuns), orphaned stages included.
// Stages run in their own process group: a Ctrl-C in the terminal reaches local mode only,
// which lets them finish reporting for a grace period, then stops the whole group (the
// stage and the `facteur-step` it runs).
//
// The run token is what the Secret mount is in a cluster: a file (mode 0600) in the run's
// directory, named by FACTEUR_RUN_TOKEN_FILE.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SubmitResult, Workflow } from '../argo/index.js';
import type { Secret } from '../config/secret.js';
import type { WorkflowBackend } from '../dispatch/index.js';
import { RetryableError } from '../errors/index.js';
import type { Logger } from '../log/index.js';

export interface LocalRunnerOptions {
  readonly namespace?: string;
  /** The stage program: `node [nodeArgs…] <script> <stage>` (local mode: facteur-agent). */
  readonly stageScript: string;
  /** Before the script, e.g. `--import tsx` to run it from the TypeScript sources. */
  readonly nodeArgs?: readonly string[];
  /** The compiled `facteur-step` the script calls. */
  readonly stepBin: string;
  readonly log: Logger;
  readonly env?: Readonly<Record<string, string>>;
  /** Parent of the runs' working directories; this runner owns everything in it. */
  readonly runsDir: string;
  /** A stage process ended (on its own, or stopped by delete/terminate). */
  readonly onExit?: (exit: StageExit) => void;
}

export interface StageExit {
  readonly workflow: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Ended by delete() or terminate(), not on its own. */
  readonly stopped: boolean;
  readonly stderr: string;
}

export interface LocalRunner extends WorkflowBackend {
  /** Workflows still running. */
  running(): string[];
  /**
   * Takes no new workflow (submit answers a retryable error) and waits up to `ms` for the
   * running ones to end on their own; returns those still running.
   */
  drain(ms: number): Promise<string[]>;
  /** Stops every stage (SIGTERM to its process group, SIGKILL after `killAfterMs`); returns their names. */
  terminate(killAfterMs?: number): Promise<string[]>;
  /** Synchronous last resort (a forced exit): SIGKILL every stage, remove the run dirs. */
  killAll(): void;
  /** drain(0) + terminate + remove the run dirs. */
  close(): Promise<void>;
}

/** What a run dir records of its stage, for the sweep after a crash. */
interface Owner {
  readonly pid: number;
  readonly workflow: string;
  readonly script: string;
}

const OWNER_FILE = 'owner.json';

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export function createLocalRunner(opts: LocalRunnerOptions): LocalRunner {
  const procs = new Map<string, { uid: string; child: ChildProcess; dir: string; stopped: boolean }>();
  const namespace = opts.namespace ?? 'local';
  let accepting = true;
  mkdirSync(opts.runsDir, { recursive: true });
  const exited = (p: { child: ChildProcess }) => p.child.exitCode !== null || p.child.signalCode !== null;
  const waitAll = (names: readonly string[], ms: number) =>
    Promise.race([
      Promise.all(names.map((n) => procs.get(n)).filter((p) => p !== undefined).map((p) => (exited(p) ? undefined : new Promise((r) => p.child.once('exit', r))))),
      new Promise((r) => setTimeout(r, ms).unref()),
    ]);
  const param = (wf: Workflow, name: string): string =>
    wf.spec.arguments?.parameters?.find((p) => p.name === name)?.value ?? '';
  const decoded = (wf: Workflow, name: string) => Buffer.from(param(wf, name), 'base64').toString('utf8');

  const terminate = async (killAfterMs = 2000): Promise<string[]> => {
    const names = [...procs.keys()];
    for (const n of names) {
      const p = procs.get(n)!;
      p.stopped = true;
      killGroup(p.child.pid, 'SIGTERM');
    }
    await waitAll(names, killAfterMs);
    const left = names.filter((n) => procs.has(n));
    for (const n of left) killGroup(procs.get(n)?.child.pid, 'SIGKILL');
    await waitAll(left, 1000);
    return names;
  };

  return {
    namespace,
    async submit(wf: Workflow, token: Secret): Promise<SubmitResult> {
      const name = wf.metadata.name ?? '';
      const existing = procs.get(name);
      if (existing) return { name, uid: existing.uid, created: false };
      if (!accepting) throw new RetryableError('runner_stopping', 'local mode is shutting down; the run is settled and retried after the restart');
      const stage = wf.metadata.labels?.['codex.stage'] ?? 'implementation';
      const dir = mkdtempSync(join(opts.runsDir, `${name.slice(0, 60)}-`));
      const input = join(dir, 'in');
      const output = join(dir, 'out');
      mkdirSync(input);
      mkdirSync(output);
      writeFileSync(join(input, 'raw-event.json'), decoded(wf, 'rawEvent'));
      writeFileSync(join(input, 'event-body.json'), decoded(wf, 'eventBody'));
      writeFileSync(join(input, 'intent-anchor.md'), decoded(wf, 'intentAnchor'));
      writeFileSync(join(input, 'retrieved-context.md'), decoded(wf, 'retrievedContext'));
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, token.reveal(), { mode: 0o600 });
      const uid = randomUUID();
      const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.stageScript, stage], {
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? dir,
          // the example stages' knobs (EXAMPLE_FAIL, EXAMPLE_REVIEW, EXAMPLE_STEP_MS)
          ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('EXAMPLE_'))),
          ...opts.env,
          FACTEUR_STAGE: stage,
          FACTEUR_CALLBACK_URL: param(wf, 'callbackUrl'),
          FACTEUR_RUN_TOKEN_FILE: tokenFile,
          FACTEUR_RUN_ID: param(wf, 'runId'),
          FACTEUR_ATTEMPT: param(wf, 'attempt'),
          TRACEPARENT: param(wf, 'traceparent'),
          CODEX_HEAD: param(wf, 'head'),
          CODEX_BASE: param(wf, 'base'),
          FACTEUR_INPUT_DIR: input,
          FACTEUR_OUTPUT_DIR: output,
          FACTEUR_STEP_STATE_DIR: join(dir, 'step'),
          FACTEUR_STEP_BIN: opts.stepBin,
          FACTEUR_WORKFLOW_NAME: name,
        },
      });
      let stderr = '';
      child.stderr!.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
      const entry = { uid, child, dir, stopped: false };
      child.on('exit', (code, signal) => {
        procs.delete(name);
        // exit 1: facteur-agent reported the run failed (its reason is in the run); anything else is news
        if (code !== 0 && code !== 1 && !entry.stopped) opts.log.warn('local runner: stage exited non-zero', { workflow: name, stage, code, signal, stderr: stderr.slice(-500) });
        rmSync(dir, { recursive: true, force: true });
        opts.onExit?.({ workflow: name, code, signal, stopped: entry.stopped, stderr: stderr.slice(-500) });
      });
      child.on('error', (err) => opts.log.warn('local runner: stage could not start', { workflow: name, stage, error: err.message }));
      if (child.pid) writeFileSync(join(dir, OWNER_FILE), JSON.stringify({ pid: child.pid, workflow: name, script: opts.stageScript } satisfies Owner));
      procs.set(name, entry);
      opts.log.debug('local runner: started', { workflow: name, stage });
      return { name, uid, created: true };
    },
    async delete(name: string): Promise<boolean> {
      const p = procs.get(name);
      if (!p) return false;
      p.stopped = true;
      killGroup(p.child.pid, 'SIGTERM');
      return true;
    },
    running: () => [...procs.keys()],
    async drain(ms) {
      accepting = false;
      await waitAll([...procs.keys()], ms);
      return [...procs.keys()];
    },
    terminate,
    killAll() {
      accepting = false;
      for (const p of procs.values()) {
        p.stopped = true;
        killGroup(p.child.pid, 'SIGKILL');
      }
      rmSync(opts.runsDir, { recursive: true, force: true });
    },
    async close() {
      accepting = false;
      await terminate();
      rmSync(opts.runsDir, { recursive: true, force: true });
    },
  };
}

/** The command line of a live process, when it can be read (Linux /proc, else ps). */
function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    try {
      return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return undefined;
    }
  }
}

/**
 * At start, before any run: removes what a killed process left in `runsDir`, and stops the
 * stages it orphaned (their results could only reach a run that is settled now). A pid is
 * only killed when it still runs the stage script recorded for it, never a process that
 * merely reuses the number. Only safe while holding the data dir's lock: no live process
 * owns these directories then.
 */
export function sweepRuns(runsDir: string, log: Logger): { dirs: number; killed: number } {
  let entries: string[];
  try {
    entries = readdirSync(runsDir);
  } catch {
    return { dirs: 0, killed: 0 };
  }
  let killed = 0;
  for (const e of entries) {
    const dir = join(runsDir, e);
    try {
      const owner = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as Owner;
      if (Number.isInteger(owner.pid) && owner.pid > 1 && commandOf(owner.pid)?.includes(owner.script)) {
        killGroup(owner.pid, 'SIGKILL');
        killed++;
        log.warn('local runner: stopped a stage orphaned by the previous process', { workflow: owner.workflow, pid: owner.pid });
      }
    } catch {
      // no owner file (the stage never started): nothing to stop
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return { dirs: entries.length, killed };
}
