// The Kubernetes side of Argo: create, read, list, stop and delete Workflows through
// @kubernetes/client-node. Transient failures (429, 5xx, network, timeouts) are retried
// here with capped exponential backoff and jitter; what is left is thrown as an error that
// says what to do: RetryableError (try later), NonRetriableError (the request is wrong),
// ConflictError (the name belongs to another run).
import { delimiter } from 'node:path';
import {
  ApiException,
  CustomObjectsApi,
  FetchError,
  KubeConfig,
  Observable,
  PatchStrategy,
  type ConfigurationOptions,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { ConflictError, NonRetriableError, RetryableError, ValidationError, messageOf } from '../errors/index.js';
import { ANNOTATIONS, LABELS, type Workflow } from './workflow.js';

const GROUP = 'argoproj.io';
const VERSION = 'v1alpha1';
const PLURAL = 'workflows';

export interface RetryOptions {
  /** Tries in all, the first included. */
  readonly attempts: number;
  readonly baseMs: number;
  /** Longest wait between tries; a longer Retry-After is handed back to the caller instead. */
  readonly maxMs: number;
}
export const DEFAULT_RETRY: RetryOptions = Object.freeze({ attempts: 5, baseMs: 200, maxMs: 5_000 });

export interface ArgoClientOptions {
  /** Defaults to `kubeConfigFromEnv()`. */
  readonly kubeConfig?: KubeConfig;
  readonly namespace: string;
  readonly retry?: Partial<RetryOptions>;
  /** Per HTTP request, body included. */
  readonly timeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

export interface SubmitResult {
  readonly name: string;
  readonly uid: string;
  /** false when the workflow already existed (a re-submit, or a retry of a create that landed). */
  readonly created: boolean;
}

export type ShutdownMode = 'Stop' | 'Terminate';

export interface ArgoClient {
  readonly namespace: string;
  /** Creates the workflow; AlreadyExists for the same run counts as success. */
  submit(workflow: Workflow): Promise<SubmitResult>;
  /** undefined when there is no such workflow. */
  get(name: string): Promise<Workflow | undefined>;
  /** true if it was deleted, false if it did not exist. */
  delete(name: string): Promise<boolean>;
  list(labelSelector?: string): Promise<Workflow[]>;
  /** Sets `spec.shutdown` (Argo stops the run); false if it did not exist. */
  stop(name: string, mode?: ShutdownMode): Promise<boolean>;
}

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
 * This reuses one keep-alive agent per cluster and TLS material.
 */
function withKeepAlive(kc: KubeConfig): KubeConfig {
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

export function createArgoClient(options: ArgoClientOptions): ArgoClient {
  const api = withKeepAlive(options.kubeConfig ?? kubeConfigFromEnv()).makeApiClient(CustomObjectsApi);
  const defaultNamespace = options.namespace;
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  const timeoutMs = options.timeoutMs ?? 10_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  const at = (namespace: string) => ({ group: GROUP, version: VERSION, plural: PLURAL, namespace });

  /** Runs one API call, retrying what may succeed later; other failures are rethrown as they are. */
  async function withRetry<T>(what: string, call: (o: ConfigurationOptions) => Promise<T>, contentType?: string): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), timeoutMs);
      try {
        return await call(requestOptions(controller.signal, contentType));
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

  async function get(name: string, namespace = defaultNamespace): Promise<Workflow | undefined> {
    try {
      return (await withRetry(`get workflow ${name}`, (o) => api.getNamespacedCustomObject({ ...at(namespace), name }, o))) as Workflow;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw translate(err, `get workflow ${name}`);
    }
  }

  return Object.freeze({
    namespace: defaultNamespace,
    get: (name: string) => get(name),

    async submit(workflow: Workflow): Promise<SubmitResult> {
      const name = workflow.metadata.name;
      // Idempotency rests on the name: a server-generated one would create twice on a retry.
      if (!name) throw new ValidationError('a workflow needs metadata.name', [{ path: 'metadata.name', message: 'is required' }]);
      const namespace = workflow.metadata.namespace ?? defaultNamespace;
      const what = `create workflow ${namespace}/${name}`;
      // Twice at most: the one we collided with may be deleted before we read it.
      for (let round = 1; round <= 2; round++) {
        try {
          const created = (await withRetry(what, (o) =>
            api.createNamespacedCustomObject({ ...at(namespace), body: workflow }, o),
          )) as Workflow;
          return { name, uid: created.metadata?.uid ?? '', created: true };
        } catch (err) {
          if (statusOf(err) !== 409) throw translate(err, what);
        }
        const existing = await get(name, namespace);
        if (existing) {
          assertSameRun(workflow, existing);
          return { name, uid: existing.metadata?.uid ?? '', created: false };
        }
      }
      throw new RetryableError('kubernetes_conflict', `${what}: it exists, then it does not; try again`);
    },

    async delete(name: string): Promise<boolean> {
      try {
        await withRetry(`delete workflow ${name}`, (o) => api.deleteNamespacedCustomObject({ ...at(defaultNamespace), name }, o));
        return true;
      } catch (err) {
        if (statusOf(err) === 404) return false;
        throw translate(err, `delete workflow ${name}`);
      }
    },

    async list(labelSelector?: string): Promise<Workflow[]> {
      try {
        const list = (await withRetry('list workflows', (o) =>
          api.listNamespacedCustomObject({ ...at(defaultNamespace), ...(labelSelector ? { labelSelector } : {}) }, o),
        )) as { items?: Workflow[] };
        return list.items ?? [];
      } catch (err) {
        throw translate(err, 'list workflows');
      }
    },

    async stop(name: string, mode: ShutdownMode = 'Terminate'): Promise<boolean> {
      try {
        await withRetry(
          `stop workflow ${name}`,
          (o) => api.patchNamespacedCustomObject({ ...at(defaultNamespace), name, body: { spec: { shutdown: mode } } }, o),
          PatchStrategy.MergePatch,
        );
        return true;
      } catch (err) {
        if (statusOf(err) === 404) return false;
        throw translate(err, `stop workflow ${name}`);
      }
    },
  });
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

function statusOf(err: unknown): number | undefined {
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
function translate(err: unknown, what: string): Error {
  if (err instanceof RetryableError || !(err instanceof ApiException)) return err as Error;
  const { reason, message } = apiStatus(err);
  const code = `kubernetes_${(reason ?? String(err.code)).replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase()}`;
  return new NonRetriableError(code, `${what}: HTTP ${err.code}${reason ? ` ${reason}` : ''}: ${message ?? 'no message'}`, { cause: err });
}

/** A name collision with another run must not pass for "already submitted". */
function assertSameRun(wanted: Workflow, existing: Workflow): void {
  const runOf = (w: Workflow) => [w.metadata?.annotations?.[ANNOTATIONS.runId], w.metadata?.labels?.[LABELS.attempt]];
  const [wantRun, wantAttempt] = runOf(wanted);
  const [hasRun, hasAttempt] = runOf(existing);
  if (wantRun === undefined) return;
  if (wantRun !== hasRun || wantAttempt !== hasAttempt) {
    throw new ConflictError(
      'workflow_name_taken',
      `workflow ${wanted.metadata.name} exists for run ${hasRun ?? '?'} attempt ${hasAttempt ?? '?'}, not run ${wantRun} attempt ${wantAttempt ?? '?'}`,
    );
  }
}
