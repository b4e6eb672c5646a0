// What every Kubernetes call of Facteur shares, whichever API group it talks to: the
// config (KUBECONFIG or in-cluster), one keep-alive agent per cluster, the per-request
// timeout, the retries of transient failures (429, 5xx, network, timeouts) with capped
// exponential backoff and jitter, and the translation of what is left into an error that
// says what to do: RetryableError (try later) or NonRetriableError (the request is wrong).
import { delimiter } from 'node:path';
import {
  ApiException,
  FetchError,
  KubeConfig,
  Observable,
  type ConfigurationOptions,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { NonRetriableError, RetryableError, messageOf } from '../errors/index.js';
import { inTracedSpan, SpanKind, type Span } from '../telemetry/tracing.js';

export interface RetryOptions {
  /** Tries in all, the first included. */
  readonly attempts: number;
  readonly baseMs: number;
  /** Longest wait between tries; a longer Retry-After is handed back to the caller instead. */
  readonly maxMs: number;
}
export const DEFAULT_RETRY: RetryOptions = Object.freeze({ attempts: 5, baseMs: 200, maxMs: 5_000 });

export interface CallOptions {
  readonly retry?: Partial<RetryOptions>;
  /** Per HTTP request, body included. */
  readonly timeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/** Runs one API call, retrying what may succeed later; other failures are rethrown as they are. */
export type Call = <T>(what: string, call: (o: ConfigurationOptions) => Promise<T>, contentType?: string) => Promise<T>;

/** KUBECONFIG (first file wins on conflicts) or the in-cluster service account. */
export function kubeConfigFromEnv(env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  const [first, ...rest] = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  if (first !== undefined) {
    kc.loadFromFile(first);
    for (const file of rest) {
      const more = new KubeConfig();
      more.loadFromFile(file);
      kc.mergeConfig(more, true);
    }
  } else if (env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
  } else {
    throw new NonRetriableError('kubernetes_not_configured', 'no Kubernetes config: set KUBECONFIG or run in a cluster');
  }
  return kc;
}

/**
 * client-node 1.x builds a new http(s).Agent for every request, so every Workflow create
 * opened a new TCP (in a cluster: TLS) connection; measured in the dispatch benchmark.
 * This reuses one keep-alive agent per cluster and TLS material, for every API client
 * made from this config.
 */
export function withKeepAlive(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createAgent: (cluster: { server?: string } | null, opts: Record<string, unknown>) => unknown };
  const create = target.createAgent.bind(kc);
  const agents = new Map<string, unknown>();
  target.createAgent = (cluster, opts) => {
    const key = JSON.stringify([cluster?.server, opts.ca, opts.cert, opts.key, opts.pfx, opts.rejectUnauthorized, opts.servername]);
    let agent = agents.get(key);
    if (!agent) {
      agent = create(cluster, { ...opts, keepAlive: true, maxSockets: 32 });
      agents.set(key, agent);
    }
    return agent;
  };
  return kc;
}

export function createCall(options: CallOptions): Call {
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  const timeoutMs = options.timeoutMs ?? 10_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  return function call<T>(what: string, send: (o: ConfigurationOptions) => Promise<T>, contentType?: string): Promise<T> {
    // one span per call, retries included (`what` is "create workflow <ns>/<name>": its verb and kind name the span)
    const attributes = { 'k8s.request': what, 'k8s.namespace.name': /\s([^\s/]+)\/\S+$/.exec(what)?.[1] ?? '' };
    return inTracedSpan(`kubernetes ${what.split(' ').slice(0, 2).join(' ')}`, { kind: SpanKind.CLIENT, attributes }, (span) => retried(what, send, contentType, span));
  };
  async function retried<T>(what: string, send: (o: ConfigurationOptions) => Promise<T>, contentType: string | undefined, span: Span): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      span.setAttribute('facteur.attempts', attempt);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), timeoutMs);
      try {
        return await send(requestOptions(controller.signal, contentType));
      } catch (err) {
        const transient = transientFailure(err, controller.signal.aborted, timeoutMs);
        if (transient === undefined) throw err;
        const backoff = Math.min(retry.maxMs, retry.baseMs * 2 ** (attempt - 1));
        const wait = transient.retryAfterMs ?? backoff / 2 + (random() * backoff) / 2;
        if (attempt >= retry.attempts || wait > retry.maxMs) {
          throw new RetryableError(
            'kubernetes_unavailable',
            `${what}: ${transient.reason} (gave up after ${attempt} ${attempt === 1 ? 'try' : 'tries'})`,
            transient.retryAfterMs,
            { cause: err },
          );
        }
        await sleep(wait);
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

/** Per-request options: the abort signal that enforces the timeout, and a content type. */
function requestOptions(signal: AbortSignal, contentType?: string): ConfigurationOptions {
  const pre = (ctx: RequestContext) => {
    ctx.setSignal(signal);
    if (contentType) ctx.setHeaderParam('Content-Type', contentType);
    return new Observable(Promise.resolve(ctx));
  };
  const post = (res: ResponseContext) => new Observable(Promise.resolve(res));
  return { middleware: [{ pre, post }], middlewareMergeStrategy: 'append' };
}

/** The API's `Status` fields, when the body is one. */
function apiStatus(err: unknown): { reason?: string; message?: string } {
  if (!(err instanceof ApiException)) return {};
  try {
    const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    if (body && typeof body === 'object') {
      const { reason, message } = body as { reason?: unknown; message?: unknown };
      return { ...(typeof reason === 'string' ? { reason } : {}), ...(typeof message === 'string' ? { message } : {}) };
    }
  } catch {
    // not JSON: a proxy's HTML error page, say
  }
  return {};
}

export function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/** Why a failure is worth another try, or undefined when it is not. */
function transientFailure(err: unknown, timedOut: boolean, timeoutMs: number): { reason: string; retryAfterMs?: number } | undefined {
  if (err instanceof ApiException) {
    if (err.code !== 429 && err.code < 500) return undefined;
    const retryAfterMs = parseRetryAfter(err.headers?.['retry-after']);
    const { reason, message } = apiStatus(err);
    const text = `HTTP ${err.code}${reason ? ` ${reason}` : ''}${message ? `: ${message}` : ''}`;
    return retryAfterMs === undefined ? { reason: text } : { reason: text, retryAfterMs };
  }
  if (timedOut) return { reason: `no answer within ${timeoutMs} ms` };
  // node-fetch wraps every socket error (reset, refused, DNS) in a FetchError.
  if (err instanceof FetchError || (err as Error | undefined)?.name === 'FetchError') return { reason: messageOf(err) };
  return undefined;
}

/** Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3). */
function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A final (non-transient) failure, as an error that says what to do. */
export function translate(err: unknown, what: string): Error {
  if (err instanceof RetryableError || !(err instanceof ApiException)) return err as Error;
  const { reason, message } = apiStatus(err);
  const code = `kubernetes_${(reason ?? String(err.code)).replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase()}`;
  return new NonRetriableError(code, `${what}: HTTP ${err.code}${reason ? ` ${reason}` : ''}: ${message ?? 'no message'}`, { cause: err });
}
