// Argument and environment parsing for `facteur-step`: argv + env in, a frozen description
// of the call out. No I/O here (the artifact and token files are read in cli.ts), so every
// usage mistake is found before a seq is spent or a byte is sent.
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Secret } from '../config/secret.js';

import { ARTIFACT_KINDS } from '../callbacks/artifact-kinds.js';
import { validTraceparent } from '../telemetry/traceparent.js';

export { ARTIFACT_KINDS };
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];
export type Outcome = 'succeeded' | 'failed';
export type EventType = 'started' | 'heartbeat' | 'artifact' | 'completed';

export const USAGE = `usage: facteur-step <command> [options]

  started   [--message m]
  heartbeat [--progress 0..1] [--message m]
            [--input-tokens n] [--output-tokens n] [--cost-usd x]   (the run's usage so far)
  artifact  <kind> <file|->      kind: ${ARTIFACT_KINDS.join('|')}
            (JSON is sent parsed, anything else as a string; - reads stdin)
  completed <succeeded|failed> [--error-code c] [--error-message m]
            [--input-tokens n] [--output-tokens n] [--cost-usd x] [--if-unfinished]

  --message m     free text for any command     --quiet   no summary line on success
  --help          this text

environment: FACTEUR_CALLBACK_URL and FACTEUR_RUN_TOKEN_FILE (a file holding the
  run token, as the Workflow's Secret is mounted) or FACTEUR_RUN_TOKEN (required);
  FACTEUR_STEP_STATE_DIR, FACTEUR_STEP_TIMEOUT_MS (10000), FACTEUR_STEP_MAX_ELAPSED_MS (120000)
exit: 0 recorded · 1 rejected or local error · 2 usage · 3 recorded, and the control plane
  stopped the run (budget exceeded: stop working) · 75 gave up retrying (try again later)
`;

/** Wrong command line or environment: exit 2, print the problem and the usage. */
export class UsageError extends Error {
  readonly code = 'usage';
}

/** Where the artifact comes from; read by the CLI, not here. */
export type ArtifactSource = { readonly kind: ArtifactKind; readonly path: string };

/** What one invocation asks for, minus `seq` and `at` (assigned when it is sent). */
export interface StepCommand {
  readonly type: EventType;
  readonly message?: string;
  readonly progress?: number;
  readonly artifact?: ArtifactSource;
  readonly outcome?: Outcome;
  readonly error?: { readonly code: string; readonly message: string };
  readonly usage?: { readonly inputTokens?: number; readonly outputTokens?: number; readonly costUsd?: number };
  /** `completed --if-unfinished`: a 409 (run already finished) is success. */
  readonly ifUnfinished: boolean;
  readonly quiet: boolean;
}

export interface StepEnv {
  readonly callbackUrl: string;
  readonly token: Secret;
  readonly stateDir: string;
  readonly timeoutMs: number;
  readonly maxElapsedMs: number;
  /** The run's trace context (TRACEPARENT, from the Workflow); absent when missing or malformed. */
  readonly traceparent?: string;
}

export type Invocation = { readonly help: true } | { readonly help: false; readonly command: StepCommand };

const OPTIONS = {
  message: { type: 'string' },
  progress: { type: 'string' },
  'error-code': { type: 'string' },
  'error-message': { type: 'string' },
  'input-tokens': { type: 'string' },
  'output-tokens': { type: 'string' },
  'cost-usd': { type: 'string' },
  'if-unfinished': { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;
type OptionName = keyof typeof OPTIONS;

const GLOBAL: readonly OptionName[] = ['message', 'quiet', 'help'];
const PER_COMMAND: Record<EventType, { args: number; options: readonly OptionName[] }> = {
  started: { args: 0, options: [] },
  heartbeat: { args: 0, options: ['progress', 'input-tokens', 'output-tokens', 'cost-usd'] },
  artifact: { args: 2, options: [] },
  completed: {
    args: 1,
    options: ['error-code', 'error-message', 'input-tokens', 'output-tokens', 'cost-usd', 'if-unfinished'],
  },
};

function isEventType(s: string | undefined): s is EventType {
  return s !== undefined && Object.hasOwn(PER_COMMAND, s);
}

function number(name: string, raw: string, check: (n: number) => boolean, what: string): number {
  const n = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`--${name} must be ${what}, got ${JSON.stringify(raw)}`);
  return n;
}
const count = (name: string, raw: string) =>
  number(name, raw, (n) => Number.isSafeInteger(n) && n >= 0, 'a whole number ≥ 0');

/** Parses the command line (not the environment). Throws UsageError. */
export function parseInvocation(argv: readonly string[]): Invocation {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  const { values: v, positionals } = parsed;
  if (v.help) return { help: true };
  const [name, ...args] = positionals;
  if (name === undefined) throw new UsageError('a command is required');
  if (!isEventType(name)) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  const spec = PER_COMMAND[name];
  for (const opt of Object.keys(v) as OptionName[]) {
    if (!GLOBAL.includes(opt) && !spec.options.includes(opt)) throw new UsageError(`${name} does not take --${opt}`);
  }
  if (args.length !== spec.args) {
    throw new UsageError(`${name} takes ${spec.args} argument${spec.args === 1 ? '' : 's'}, got ${args.length}`);
  }

  const command: {
    -readonly [K in keyof StepCommand]: StepCommand[K];
  } = { type: name, ifUnfinished: v['if-unfinished'] === true, quiet: v.quiet === true };
  if (v.message !== undefined) command.message = v.message;
  if (v.progress !== undefined) command.progress = number('progress', v.progress, (n) => n >= 0 && n <= 1, 'between 0 and 1');

  if (name === 'artifact') {
    const [kind, path] = args as [string, string];
    if (!(ARTIFACT_KINDS as readonly string[]).includes(kind)) {
      throw new UsageError(`unknown artifact kind ${JSON.stringify(kind)} (one of ${ARTIFACT_KINDS.join(', ')})`);
    }
    if (path === '') throw new UsageError('artifact needs a file path or - for stdin');
    command.artifact = { kind: kind as ArtifactKind, path };
  }

  if (name === 'completed') {
    const outcome = args[0];
    if (outcome !== 'succeeded' && outcome !== 'failed') {
      throw new UsageError(`completed takes succeeded or failed, got ${JSON.stringify(outcome)}`);
    }
    command.outcome = outcome;
    const code = v['error-code'];
    const message = v['error-message'];
    if (code !== undefined || message !== undefined) {
      if (outcome === 'succeeded') throw new UsageError('--error-code/--error-message only go with failed');
      if (!code) throw new UsageError('--error-message needs --error-code');
      command.error = { code, message: message ?? code };
    }
  }
  if (name === 'heartbeat' || name === 'completed') {
    const usage: { inputTokens?: number; outputTokens?: number; costUsd?: number } = {};
    if (v['input-tokens'] !== undefined) usage.inputTokens = count('input-tokens', v['input-tokens']);
    if (v['output-tokens'] !== undefined) usage.outputTokens = count('output-tokens', v['output-tokens']);
    if (v['cost-usd'] !== undefined) usage.costUsd = number('cost-usd', v['cost-usd'], (n) => n >= 0, 'a number ≥ 0');
    if (Object.keys(usage).length > 0) command.usage = Object.freeze(usage);
  }
  return { help: false, command: Object.freeze(command) };
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) {
    problems.push(`${name} must be a whole number ≥ ${min}`);
    return fallback;
  }
  return n;
}

/** Default state dir: one per callback URL (hence per run), so two runs never share seqs. */
export function defaultStateDir(callbackUrl: string, env: NodeJS.ProcessEnv): string {
  const hash = createHash('sha256').update(callbackUrl).digest('hex').slice(0, 16);
  return join(env.TMPDIR || tmpdir(), `facteur-step-${hash}`);
}

/** What the file FACTEUR_RUN_TOKEN_FILE names held, as cli.ts read it. */
export type TokenFileRead = { readonly text: string } | { readonly error: string };

/**
 * Reads the environment; every problem is reported at once. Never echoes the token.
 * FACTEUR_RUN_TOKEN_FILE wins over FACTEUR_RUN_TOKEN (a file is not in the process's
 * environment, which child processes and crash dumps inherit); `tokenFile` is what it held.
 */
export function parseStepEnv(env: NodeJS.ProcessEnv, tokenFile?: TokenFileRead): StepEnv {
  const problems: string[] = [];
  const url = env.FACTEUR_CALLBACK_URL ?? '';
  if (url === '') problems.push('FACTEUR_CALLBACK_URL is required');
  else if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    problems.push('FACTEUR_CALLBACK_URL must be an http(s) URL');
  }
  const file = env.FACTEUR_RUN_TOKEN_FILE ?? '';
  const source = file !== '' ? 'FACTEUR_RUN_TOKEN_FILE' : 'FACTEUR_RUN_TOKEN';
  let raw = env.FACTEUR_RUN_TOKEN ?? '';
  if (file !== '') {
    raw = tokenFile && 'text' in tokenFile ? tokenFile.text : '';
    if (!tokenFile) problems.push(`FACTEUR_RUN_TOKEN_FILE ${file} was not read`);
    else if ('error' in tokenFile) problems.push(`cannot read FACTEUR_RUN_TOKEN_FILE ${file}: ${tokenFile.error}`);
  }
  // Secrets mounted from files often end in a newline; it is never part of the token.
  const token = raw.trim();
  if (token === '') {
    if (file === '') problems.push('FACTEUR_RUN_TOKEN_FILE or FACTEUR_RUN_TOKEN is required');
    else if (tokenFile && 'text' in tokenFile) problems.push(`FACTEUR_RUN_TOKEN_FILE ${file} is empty`);
  } else if (!/^[\x21-\x7e]+$/.test(token)) problems.push(`${source} has characters not allowed in an HTTP header`);
  const timeoutMs = positiveInt(env, 'FACTEUR_STEP_TIMEOUT_MS', 10_000, 1, problems);
  const maxElapsedMs = positiveInt(env, 'FACTEUR_STEP_MAX_ELAPSED_MS', 120_000, 0, problems);
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  return Object.freeze({
    callbackUrl: url,
    token: new Secret(token),
    stateDir: env.FACTEUR_STEP_STATE_DIR || defaultStateDir(url, env),
    timeoutMs,
    maxElapsedMs,
    // a malformed one is dropped, not an error: tracing never stops a step from reporting
    ...(validTraceparent(env.TRACEPARENT) ? { traceparent: validTraceparent(env.TRACEPARENT)! } : {}),
  });
}
