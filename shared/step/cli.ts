// `facteur-step`: parse → read the artifact → take a seq → send → map the answer to an exit
// code. Everything the outside world provides (argv, env, stdio, clock, fetch) is passed
// in, so tests run it in-process. Every line printed goes through `redact`, so the run
// token (from FACTEUR_RUN_TOKEN_FILE or FACTEUR_RUN_TOKEN) cannot reach a log even if a
// server or library echoes it.
import { readFile, stat } from 'node:fs/promises';
import { parseInvocation, parseStepEnv, USAGE, UsageError, type StepCommand, type TokenFileRead } from './command.js';
import { nextSeq, type SeqOptions } from './seq.js';

/** The seq of `completed --if-unfinished` (the exit handler's one event per run). */
export const EXIT_HANDLER_SEQ = 2_000_000_000;
import { sendEvent, stopOf, type SendDeps, type SendResult } from './send.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** sysexits EX_TEMPFAIL: the event was not recorded, trying again later may work. */
export const EXIT_TEMPFAIL = 75;
/** The event was recorded and the control plane told the step to stop (a budget exceeded): the run is cancelled. */
export const EXIT_STOPPED = 3;

/** The callbacks function answers 413 above this (FACTEUR_MAX_BODY_BYTES default). */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface StepIo {
  /** Opened only for `artifact <kind> -`. */
  readonly stdin: () => AsyncIterable<Uint8Array | string>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export interface StepDeps extends SendDeps {
  readonly seq?: SeqOptions;
}

/** A problem on this side (unreadable file, body too large): exit 1, nothing was sent. */
export class LocalError extends Error {
  readonly code = 'local';
}

/** The JSON body for `command` (`data` is the decoded artifact, when there is one). */
export function eventBody(command: StepCommand, seq: number, at: Date, data?: unknown): Record<string, unknown> {
  const body: Record<string, unknown> = { seq, type: command.type, at: at.toISOString() };
  if (command.progress !== undefined) body.progress = command.progress;
  if (command.message !== undefined) body.message = command.message;
  if (command.artifact) body.artifact = { kind: command.artifact.kind, data };
  if (command.outcome) body.outcome = command.outcome;
  if (command.error) body.error = { ...command.error };
  if (command.usage) body.usage = { ...command.usage };
  return body;
}

/** JSON is sent parsed; anything else (including an empty file) as the text itself. */
export function decodeArtifact(bytes: Uint8Array): unknown {
  const text = Buffer.from(bytes).toString('utf8').replace(/^\uFEFF/, '');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const tooLarge = (what: string) =>
  new LocalError(`${what} is larger than ${MAX_BODY_BYTES} bytes (1 MiB), the most the callbacks function accepts; not sent`);

export async function readArtifact(path: string, stdin: StepIo['stdin']): Promise<Buffer> {
  if (path !== '-') {
    try {
      if ((await stat(path)).size > MAX_BODY_BYTES) throw tooLarge(`artifact ${path}`);
      return await readFile(path);
    } catch (err) {
      if (err instanceof LocalError) throw err;
      throw new LocalError(`cannot read artifact ${path}: ${(err as Error).message}`);
    }
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin()) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw tooLarge('the artifact on stdin'); // stop reading: it cannot be sent
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** A token is some 40 characters; a larger file is not a token file. */
export const MAX_TOKEN_FILE_BYTES = 4096;

/** Reads the file FACTEUR_RUN_TOKEN_FILE names (a mounted Secret: a symlink, followed). */
export async function readTokenFile(env: NodeJS.ProcessEnv): Promise<TokenFileRead | undefined> {
  const path = env.FACTEUR_RUN_TOKEN_FILE;
  if (!path) return undefined;
  try {
    const info = await stat(path);
    if (!info.isFile()) return { error: 'not a regular file' };
    if (info.size > MAX_TOKEN_FILE_BYTES) return { error: `larger than ${MAX_TOKEN_FILE_BYTES} bytes, not a token` };
    return { text: await readFile(path, 'utf8') };
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}

function redactor(env: NodeJS.ProcessEnv, tokenFile: TokenFileRead | undefined): (text: string) => string {
  const raws = [env.FACTEUR_RUN_TOKEN ?? '', tokenFile && 'text' in tokenFile ? tokenFile.text : ''];
  const secrets = [...new Set(raws.flatMap((raw) => [raw, raw.trim()]))].filter((s) => s !== '').sort((a, b) => b.length - a.length);
  return (text) => secrets.reduce((t, s) => t.split(s).join('[redacted]'), text);
}

export async function runStep(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: StepIo,
  deps: StepDeps = {},
): Promise<number> {
  const tokenFile = await readTokenFile(env);
  const redact = redactor(env, tokenFile);
  const write = (line: string) => io.stderr(redact(`${line}\n`));
  const say = (line: string) => write(`facteur-step: ${line}`);
  try {
    const invocation = parseInvocation(argv);
    if (invocation.help) {
      io.stdout(USAGE);
      return EXIT_OK;
    }
    const { command } = invocation;
    const config = parseStepEnv(env, tokenFile);
    const now = deps.now ?? Date.now;

    const data = command.artifact ? decodeArtifact(await readArtifact(command.artifact.path, io.stdin)) : undefined;
    // Check the size before taking a seq, so a refused body leaves no gap in the numbering.
    const largest = JSON.stringify(eventBody(command, Number.MAX_SAFE_INTEGER, new Date(now()), data));
    if (Buffer.byteLength(largest) > MAX_BODY_BYTES) throw tooLarge(`the ${command.type} event`);

    // The exit handler runs in another pod with a fresh counter: it uses a seq of its own,
    // reserved at the top of the range, so it can never collide with the main step's.
    const seq = command.ifUnfinished ? EXIT_HANDLER_SEQ : await nextSeq(config.stateDir, deps.seq);
    const label = `${command.type} #${seq}`;
    const body = JSON.stringify(eventBody(command, seq, new Date(now()), data));
    const result = await sendEvent(
      { url: config.callbackUrl, token: config.token, body, timeoutMs: config.timeoutMs, maxElapsedMs: config.maxElapsedMs, ...(config.traceparent ? { traceparent: config.traceparent } : {}) },
      {
        ...deps,
        onRetry: ({ attempt, problem, delayMs }) => {
          if (!command.quiet) say(`${label}: attempt ${attempt} failed (${problem}); retrying in ${(delayMs / 1000).toFixed(1)} s`);
          deps.onRetry?.({ attempt, problem, delayMs });
        },
      },
    );
    return report(command, label, result, say, write);
  } catch (err) {
    if (err instanceof UsageError) {
      say(err.message);
      write(`\n${USAGE.trimEnd()}`);
      return EXIT_USAGE;
    }
    say(err instanceof Error ? err.message : String(err));
    return EXIT_FAILURE;
  }
}

const HINTS: Record<number, string> = {
  400: 'the event is invalid; fix the command line or artifact',
  401: 'the run token was refused: a wrong token, an old attempt, or a FACTEUR_CALLBACK_URL of another run',
  404: 'no such route; check FACTEUR_CALLBACK_URL',
  409: 'the attempt is stale or the run has already finished',
  413: 'the body is too large',
};

type Print = (line: string) => void;

function report(command: StepCommand, label: string, result: SendResult, say: Print, write: Print): number {
  const tries = result.attempts > 1 ? ` after ${result.attempts} attempts` : '';
  switch (result.kind) {
    case 'accepted': {
      const stop = stopOf(result);
      if (stop) {
        // said even with --quiet: the step's script must know why it ends here
        say(`${label} recorded; the control plane stopped this run: ${stop.reason}${stop.message ? `: ${stop.message}` : ''}`);
        return EXIT_STOPPED;
      }
      if (!command.quiet) {
        const what = result.status === 200 ? 'already recorded' : 'recorded';
        say(`${label} ${what} (${result.status})${tries}`);
      }
      return EXIT_OK;
    }
    case 'exhausted':
      say(
        `${label} NOT recorded: gave up${tries} in ${(result.elapsedMs / 1000).toFixed(1)} s; last problem: ` +
          `${result.lastProblem}. The callbacks function is unreachable or failing; try again later.`,
      );
      return EXIT_TEMPFAIL;
    case 'rejected': {
      const e = result.error;
      if (result.status === 409 && command.ifUnfinished) {
        if (!command.quiet) say(`${label}: run already finished (409${e?.code ? ` ${e.code}` : ''}); nothing to do`);
        return EXIT_OK;
      }
      const detail = [e?.code, e?.message].filter(Boolean).join(': ');
      const hint = HINTS[result.status];
      say(`${label} rejected with HTTP ${result.status}${detail ? ` ${detail}` : ''}${hint ? ` (${hint})` : ''}`);
      for (const issue of e?.issues ?? []) write(`  - ${issue.path || '(body)'}: ${issue.message}`);
      return EXIT_FAILURE;
    }
  }
}
