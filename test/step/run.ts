// Runs `facteur-step` in-process with a fake clock (sleeps advance it instantly) and
// captures what it prints. Every capture is also kept in `printed`, so a suite can check
// that the run token never appeared anywhere.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runStep, type StepDeps } from '../../shared/step/index.js';

export const TOKEN = 'tok-Sup3rSecret-0123456789abcdef';
export const START = Date.parse('2025-06-01T12:00:00.000Z');

export const printed: string[] = [];

export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The waits the sender asked for, in ms. */
  readonly sleeps: number[];
}

export async function stateDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'facteur-step-test-'));
}

export function stepEnv(url: string, dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    FACTEUR_CALLBACK_URL: url,
    FACTEUR_RUN_TOKEN: TOKEN,
    FACTEUR_STEP_STATE_DIR: dir,
    FACTEUR_STEP_TIMEOUT_MS: '2000',
    FACTEUR_STEP_MAX_ELAPSED_MS: '60000',
    ...extra,
  };
}

export async function run(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  options: { stdin?: string; deps?: StepDeps; onSleep?: (ms: number) => Promise<void> } = {},
): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  let clock = START;
  const sleeps: number[] = [];
  const code = await runStep(
    argv,
    env,
    {
      stdin: () => Readable.from([Buffer.from(options.stdin ?? '')]),
      stdout: (t) => void (stdout += t),
      stderr: (t) => void (stderr += t),
    },
    {
      now: () => clock,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
        await options.onSleep?.(ms);
      },
      ...options.deps,
    },
  );
  printed.push(stdout, stderr);
  return { code, stdout, stderr, sleeps };
}
