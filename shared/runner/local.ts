// Local mode's stand-in for Argo: each submitted Workflow runs as a child process with the
// environment and inputs an Argo step gets (see knative/workflow-templates/), here the
// example stage script in examples/stages/, which reports through `facteur-step` over HTTP
// exactly like a step in a cluster. Named by workflow name, so a re-submit of a name that
// is still running is AlreadyExists, as in Argo. The run token is what the Secret mount is
// in a cluster: a file (mode 0600) in the run's directory, named by FACTEUR_RUN_TOKEN_FILE.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SubmitResult, Workflow } from '../argo/index.js';
import type { Secret } from '../config/secret.js';
import type { WorkflowBackend } from '../dispatch/index.js';
import type { Logger } from '../log/index.js';

export interface LocalRunnerOptions {
  readonly namespace?: string;
  /** The stage script: `node <script> <stage>`. */
  readonly stageScript: string;
  /** The compiled `facteur-step` the script calls. */
  readonly stepBin: string;
  readonly log: Logger;
  readonly env?: Readonly<Record<string, string>>;
}

export interface LocalRunner extends WorkflowBackend {
  /** Workflows still running. */
  running(): string[];
  close(): Promise<void>;
}

export function createLocalRunner(opts: LocalRunnerOptions): LocalRunner {
  const procs = new Map<string, { uid: string; child: ChildProcess; dir: string }>();
  const namespace = opts.namespace ?? 'local';
  const param = (wf: Workflow, name: string): string =>
    wf.spec.arguments?.parameters?.find((p) => p.name === name)?.value ?? '';
  const decoded = (wf: Workflow, name: string) => Buffer.from(param(wf, name), 'base64').toString('utf8');

  return {
    namespace,
    async submit(wf: Workflow, token: Secret): Promise<SubmitResult> {
      const name = wf.metadata.name ?? '';
      const existing = procs.get(name);
      if (existing) return { name, uid: existing.uid, created: false };
      const stage = wf.metadata.labels?.['codex.stage'] ?? 'implementation';
      const dir = mkdtempSync(join(tmpdir(), `facteur-run-${name.slice(0, 40)}-`));
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
      const child = spawn(process.execPath, [opts.stageScript, stage], {
        stdio: ['ignore', 'ignore', 'pipe'],
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
      child.on('exit', (code) => {
        procs.delete(name);
        if (code !== 0) opts.log.warn('local runner: stage exited non-zero', { workflow: name, stage, code, stderr: stderr.slice(-500) });
        rmSync(dir, { recursive: true, force: true });
      });
      procs.set(name, { uid, child, dir });
      opts.log.debug('local runner: started', { workflow: name, stage });
      return { name, uid, created: true };
    },
    async delete(name: string): Promise<boolean> {
      const p = procs.get(name);
      if (!p) return false;
      p.child.kill('SIGTERM');
      return true;
    },
    running: () => [...procs.keys()],
    async close() {
      await Promise.all(
        [...procs.values()].map(
          (p) => new Promise<void>((resolve) => {
            if (p.child.exitCode !== null) return resolve();
            p.child.once('exit', () => resolve());
            p.child.kill('SIGTERM');
          }),
        ),
      );
    },
  };
}
