// Delivers one event body to the callbacks function, retrying what may succeed later
// (network errors, timeouts, 408/429/5xx) with exponential backoff and jitter, honouring
// Retry-After, until the time budget is spent. The body (and so its seq) is the same on
// every attempt, which is what makes a retry idempotent on the server (200 = duplicate).
import type { Secret } from '../config/secret.js';
import { contextForTrace, inSpan, SpanKind, traceparentOf } from '../telemetry/tracing.js';

export interface ServerIssue {
  readonly path: string;
  readonly message: string;
}
export interface ServerError {
  readonly code?: string;
  readonly message?: string;
  readonly issues?: readonly ServerIssue[];
}

export type SendResult =
  | {
      readonly kind: 'accepted';
      readonly status: number;
      readonly attempts: number;
      /** The server's answer, when it is JSON (a `stop` in it tells the step to stop). */
      readonly body?: unknown;
    }
  | {
      readonly kind: 'rejected';
      readonly status: number;
      readonly attempts: number;
      /** The server's `{"error": …}`, when it sent one. */
      readonly error: ServerError | undefined;
    }
  | { readonly kind: 'exhausted'; readonly attempts: number; readonly elapsedMs: number; readonly lastProblem: string };

export interface SendRequest {
  readonly url: string;
  readonly token: Secret;
  readonly body: string;
  /** Per attempt. */
  readonly timeoutMs: number;
  /** Total time allowed for attempts and waits; 0 means one attempt. */
  readonly maxElapsedMs: number;
  /** The run's trace context: the parent of this send's span, whose context goes as the `traceparent` header. */
  readonly traceparent?: string;
}

export interface SendDeps {
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Milliseconds since the epoch (also used for the event's `at`). */
  readonly now?: () => number;
  /** In [0, 1): the jitter source. */
  readonly random?: () => number;
  /** Told about each retry, e.g. to print a line; never given the token. */
  readonly onRetry?: (info: { attempt: number; problem: string; delayMs: number }) => void;
}

export const BACKOFF_BASE_MS = 250;
export const BACKOFF_CAP_MS = 15_000;

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Statuses worth trying again: the same request may succeed later. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date), if present and sane. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** "Equal jitter": half the exponential step is fixed, half random, so waits never collapse to 0. */
export function backoffMs(attempt: number, random: () => number): number {
  const step = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + (step / 2) * random());
}

/**
 * Sends `req`, in a CLIENT span (retries included) under the run's trace context when the
 * step has one: the callbacks function's span is then this span's child, and so in the
 * idea's trace. With no SDK loaded, the header is the run's trace context itself.
 */
export function sendEvent(req: SendRequest, deps: SendDeps = {}): Promise<SendResult> {
  if (!req.traceparent) return sendOnce(req, undefined, deps);
  return inSpan('POST callbacks', { kind: SpanKind.CLIENT, parent: contextForTrace(req.traceparent), attributes: { 'http.request.method': 'POST', 'server.address': hostOf(req.url) } }, async (span) => {
    const result = await sendOnce(req, traceparentOf(span) ?? req.traceparent, deps);
    span.setAttributes({ 'facteur.step.result': result.kind, 'facteur.step.attempts': result.attempts, ...('status' in result ? { 'http.response.status_code': result.status } : {}) });
    return result;
  });
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}

async function sendOnce(req: SendRequest, traceparent: string | undefined, deps: SendDeps): Promise<SendResult> {
  const doFetch = deps.fetch ?? fetch;
  const sleep = deps.sleep ?? realSleep;
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const start = now();
  const deadline = start + req.maxElapsedMs;
  for (let attempt = 1; ; attempt++) {
    let problem: string;
    let retryAfterMs: number | undefined;
    // Later attempts must not outlive the budget; the first always gets its full timeout.
    const timeoutMs = attempt === 1 ? req.timeoutMs : Math.max(1, Math.min(req.timeoutMs, deadline - now()));
    try {
      const res = await doFetch(req.url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${req.token.reveal()}`,
          'content-type': 'application/json',
          accept: 'application/json',
          ...(traceparent ? { traceparent } : {}),
        },
        body: req.body,
        // A redirect would replay a bearer token elsewhere: treat it as an answer instead.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      if (res.status >= 200 && res.status < 300) return { kind: 'accepted', status: res.status, attempts: attempt, body: jsonOf(text) };
      if (!isRetryableStatus(res.status)) {
        return { kind: 'rejected', status: res.status, attempts: attempt, error: errorOf(text) };
      }
      const err = errorOf(text);
      problem = `HTTP ${res.status}${err?.code ? ` ${err.code}` : ''}${err?.message ? `: ${err.message}` : ''}`;
      retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now());
    } catch (err) {
      problem = describeFailure(err, timeoutMs);
    }
    const delayMs = retryAfterMs ?? backoffMs(attempt, random);
    const elapsedMs = now() - start;
    if (now() + delayMs >= deadline) {
      const why = retryAfterMs !== undefined && retryAfterMs > 0 ? ` (server asked to wait ${Math.ceil(retryAfterMs / 1000)} s)` : '';
      return { kind: 'exhausted', attempts: attempt, elapsedMs, lastProblem: problem + why };
    }
    deps.onRetry?.({ attempt, problem, delayMs });
    await sleep(delayMs);
  }
}

function describeFailure(err: unknown, timeoutMs: number): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  // fetch reports "fetch failed" and puts the useful part (ECONNREFUSED …) in the cause.
  const cause = err.cause as (Error & { code?: string }) | undefined;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return cause?.message ?? err.message;
}

function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The server's order to stop the step (an enforced budget exceeded), from an accepted answer. */
export function stopOf(result: SendResult): StopOrder | undefined {
  if (result.kind !== 'accepted') return undefined;
  const stop = (result.body as { stop?: unknown } | null | undefined)?.stop;
  if (typeof stop !== 'object' || stop === null) return undefined;
  const { reason, message } = stop as Record<string, unknown>;
  return { reason: typeof reason === 'string' ? reason : 'stopped', message: typeof message === 'string' ? message.slice(0, 1000) : '' };
}

export interface StopOrder {
  readonly reason: string;
  readonly message: string;
}

function errorOf(text: string): ServerError | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return text.trim() === '' ? undefined : { message: text.trim().slice(0, 500) };
  }
  const e = (json as { error?: unknown } | null)?.error;
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, message, issues } = e as Record<string, unknown>;
  const out: { code?: string; message?: string; issues?: ServerIssue[] } = {};
  if (typeof code === 'string') out.code = code;
  if (typeof message === 'string') out.message = message;
  if (Array.isArray(issues)) {
    out.issues = issues
      .filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null)
      .map((i) => ({ path: String(i.path ?? ''), message: String(i.message ?? '') }));
  }
  return out;
}
