// The callbacks client as a library, for programs that report a run from inside one process
// (`facteur-agent`): the same env (FACTEUR_CALLBACK_URL, FACTEUR_RUN_TOKEN_FILE…), the same
// seq counter in the same state dir, the same bodies and retries as `facteur-step`, so the
// two can report the same run — the agent its events, the template's exit handler its
// `completed --if-unfinished` — without ever reusing a seq.
import { parseStepEnv, type ArtifactKind, type StepCommand, type StepEnv } from './command.js';
import { eventBody, MAX_BODY_BYTES, readTokenFile } from './cli.js';
import { nextSeq } from './seq.js';
import { sendEvent, stopOf, type SendDeps, type SendResult, type StopOrder } from './send.js';

export interface Usage {
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly costUsd?: number;
}

export interface Reporter {
  started(message?: string): Promise<void>;
  /** Resolves with the control plane's order to stop, when it gave one (a budget exceeded: the run is cancelled). */
  heartbeat(progress?: number, message?: string, usage?: Usage): Promise<StopOrder | undefined>;
  artifact(kind: ArtifactKind, data: unknown): Promise<void>;
  /** Resolves with the order to stop when the final usage passed an enforced budget (the run is cancelled, not settled). */
  completed(outcome: 'succeeded' | 'failed', detail?: { error?: { code: string; message: string }; usage?: Usage }): Promise<StopOrder | undefined>;
  /** Masks the run token in text that is about to be printed. */
  redact(text: string): string;
}

/** The event could not be recorded: refused (4xx) or the callbacks function stayed unreachable. */
export class ReportError extends Error {
  override readonly name = 'ReportError';
  constructor(
    message: string,
    readonly result: SendResult | undefined,
  ) {
    super(message);
  }
}

export async function createReporter(env: NodeJS.ProcessEnv, deps: SendDeps = {}): Promise<Reporter> {
  const tokenFile = await readTokenFile(env);
  const config: StepEnv = parseStepEnv(env, tokenFile);
  const raw = config.token.reveal();
  const redact = (text: string) => (raw ? text.split(raw).join('[redacted]') : text);
  const now = deps.now ?? Date.now;

  const send = async (command: StepCommand, data?: unknown): Promise<SendResult> => {
    const probe = JSON.stringify(eventBody(command, Number.MAX_SAFE_INTEGER, new Date(now()), data));
    if (Buffer.byteLength(probe) > MAX_BODY_BYTES) {
      throw new ReportError(`the ${command.type} event is larger than ${MAX_BODY_BYTES} bytes; not sent`, undefined);
    }
    const seq = await nextSeq(config.stateDir);
    const body = JSON.stringify(eventBody(command, seq, new Date(now()), data));
    const result = await sendEvent({ url: config.callbackUrl, token: config.token, body, timeoutMs: config.timeoutMs, maxElapsedMs: config.maxElapsedMs, ...(config.traceparent ? { traceparent: config.traceparent } : {}) }, deps);
    if (result.kind === 'accepted') return result;
    const why =
      result.kind === 'exhausted'
        ? `gave up after ${result.attempts} attempts: ${result.lastProblem}`
        : `HTTP ${result.status}${result.error ? ` ${result.error.code}: ${result.error.message}` : ''}`;
    throw new ReportError(redact(`${command.type} #${seq} not recorded: ${why}`), result);
  };
  const base = { ifUnfinished: false, quiet: true } as const;

  return {
    started: async (message) => void (await send({ ...base, type: 'started', ...(message !== undefined ? { message } : {}) })),
    heartbeat: async (progress, message, usage) =>
      stopOf(await send({ ...base, type: 'heartbeat', ...(progress !== undefined ? { progress } : {}), ...(message !== undefined ? { message } : {}), ...(usage ? { usage } : {}) })),
    artifact: async (kind, data) => void (await send({ ...base, type: 'artifact', artifact: { kind, path: '-' } }, data)),
    completed: async (outcome, detail = {}) =>
      stopOf(await send({ ...base, type: 'completed', outcome, ...(detail.error ? { error: detail.error } : {}), ...(detail.usage ? { usage: detail.usage } : {}) })),
    redact,
  };
}
