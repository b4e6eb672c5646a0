// An OpenAI-compatible `/v1/embeddings` provider: OpenAI, Azure OpenAI, Ollama, vLLM and
// Hugging Face TEI all answer `{ data: [{ index, embedding }] }` to `{ model, input: [...] }`.
//
// Texts go in batches (one request per `batch` texts, in order). Each request has its own
// timeout; 408, 429, 5xx, a timeout and a refused connection are retried with exponential
// backoff and full jitter — or after the `Retry-After` the provider asked for — until the
// batch's total time is spent, then the batch fails retryable (the KB's pass leaves its
// reflections for a later pass: nothing is lost). Every vector's dimension is checked against
// the configured one (a provider silently serving another model would mix spaces: that is
// not retried), and every vector is scaled to unit length, which cosine distance and the
// local embedder assume. The API key is a Secret: it goes into one header and nowhere else,
// and is scrubbed from whatever a provider echoes back into an error.
import type { EmbeddingsConfig } from '../../config/kb-store.js';
import { NonRetriableError, RetryableError } from '../../errors/index.js';
import type { Embedder } from './types.js';

export interface OpenAiEmbedderOptions {
  /** Backoff before the n-th retry: min(maxBackoffMs, baseBackoffMs × 2^n), fully jittered. */
  readonly baseBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Injectable for tests that check the waits; defaults to setTimeout. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A provider's `Retry-After` is honoured up to this; past it the batch fails and a later pass retries. */
const MAX_RETRY_AFTER_MS = 60_000;

/** The least time left for an attempt to be worth making. */
const MIN_ATTEMPT_MS = 250;

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `…/v1` gets `/embeddings` appended; a URL already ending in `/embeddings` (Azure's, with its query) is used as is. */
export function embeddingsEndpoint(url: string): string {
  const u = new URL(url);
  if (!/\/embeddings\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/+$/, '')}/embeddings`;
  return u.toString();
}

/** `Retry-After` in seconds or as an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const s = header.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function createOpenAiEmbedder(cfg: EmbeddingsConfig, opts: OpenAiEmbedderOptions = {}): Embedder {
  const endpoint = embeddingsEndpoint(cfg.url);
  const host = new URL(endpoint).host;
  const sleep = opts.sleep ?? sleepMs;
  const base = opts.baseBackoffMs ?? 250;
  const cap = opts.maxBackoffMs ?? 10_000;
  const key = cfg.apiKey?.reveal();
  // Azure OpenAI takes its key in `api-key`; everyone else in a bearer token.
  const azure = /\.openai\.azure\.com$/i.test(new URL(endpoint).hostname);
  const scrub = (s: string) => (key ? s.split(key).join('[secret]') : s);

  async function once(texts: readonly string[], timeoutMs: number): Promise<number[][]> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (key) headers[azure ? 'api-key' : 'authorization'] = azure ? key : `Bearer ${key}`;
    const body = { model: cfg.model, input: texts, encoding_format: 'float', ...(cfg.sendDimensions ? { dimensions: cfg.dimensions } : {}) };
    let res: Response;
    try {
      res = await fetch(endpoint, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
      throw new RetryableError(timedOut ? 'embedder_timeout' : 'embedder_unreachable',
        timedOut ? `the embeddings provider at ${host} did not answer within ${timeoutMs} ms` : `the embeddings provider at ${host} is unreachable: ${scrub((err as Error).message)}`);
    }
    if (res.status === 429 || res.status === 408 || res.status >= 500) {
      const text = scrub((await res.text().catch(() => '')).slice(0, 300));
      throw new RetryableError(res.status === 429 ? 'embedder_rate_limited' : 'embedder_unavailable',
        `the embeddings provider at ${host} answered ${res.status}${text ? `: ${text}` : ''}`, retryAfterMs(res.headers.get('retry-after')));
    }
    if (!res.ok) {
      const text = scrub((await res.text().catch(() => '')).slice(0, 300));
      throw new NonRetriableError('embedder_refused', `the embeddings provider at ${host} refused the request (${res.status})${text ? `: ${text}` : ''}`);
    }
    let parsed: unknown;
    try {
      parsed = await res.json();
    } catch {
      throw new RetryableError('embedder_bad_answer', `the embeddings provider at ${host} answered ${res.status} with a body that is not JSON`);
    }
    return vectorsOf(parsed, texts.length, cfg, host);
  }

  async function batch(texts: readonly string[]): Promise<number[][]> {
    const deadline = Date.now() + cfg.maxTotalMs;
    for (let attempt = 0; ; attempt++) {
      const remaining = deadline - Date.now();
      try {
        return await once(texts, Math.max(1, Math.min(cfg.timeoutMs, remaining)));
      } catch (err) {
        if (!(err instanceof RetryableError)) throw err;
        const jittered = Math.random() * Math.min(cap, base * 2 ** attempt);
        const wait = err.retryAfterMs !== undefined ? Math.min(err.retryAfterMs, MAX_RETRY_AFTER_MS) : jittered;
        // another attempt only when it would still have a fair share of its timeout: one cut
        // to a few milliseconds would fail as a timeout and hide what the provider answered
        if (Date.now() + wait + Math.min(cfg.timeoutMs, MIN_ATTEMPT_MS) >= deadline) {
          throw new RetryableError(err.code, `${err.message} (gave up after ${attempt + 1} attempt${attempt ? 's' : ''} within ${cfg.maxTotalMs} ms)`, err.retryAfterMs);
        }
        await sleep(wait);
      }
    }
  }

  return {
    version: cfg.version,
    provider: 'openai',
    model: cfg.model,
    dimensions: cfg.dimensions,
    async embed(texts) {
      const out: number[][] = [];
      for (let i = 0; i < texts.length; i += cfg.batch) out.push(...(await batch(texts.slice(i, i + cfg.batch))));
      return out;
    },
  };
}

/** The answer's vectors in input order, each checked and scaled to unit length. */
function vectorsOf(answer: unknown, count: number, cfg: EmbeddingsConfig, host: string): number[][] {
  const data = (answer as { data?: unknown } | null)?.data;
  if (!Array.isArray(data) || data.length !== count) {
    throw new NonRetriableError('embedder_bad_answer', `the embeddings provider at ${host} returned ${Array.isArray(data) ? data.length : 'no'} vectors for ${count} texts`);
  }
  const out = new Array<number[]>(count);
  data.forEach((item: { index?: unknown; embedding?: unknown }, i) => {
    const index = typeof item?.index === 'number' ? item.index : i;
    const v = item?.embedding;
    if (!Number.isInteger(index) || index < 0 || index >= count || out[index]) {
      throw new NonRetriableError('embedder_bad_answer', `the embeddings provider at ${host} returned a vector with index ${String(index)} for ${count} texts`);
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new NonRetriableError('embedder_bad_answer', `the embeddings provider at ${host} returned an embedding that is not a list of finite numbers (ask for encoding_format "float")`);
    }
    if (v.length !== cfg.dimensions) {
      throw new NonRetriableError('embedder_dimension', `the embeddings provider at ${host} returned vectors of ${v.length} dimensions; FACTEUR_EMBEDDINGS_DIMENSIONS is ${cfg.dimensions} (model ${cfg.model}, version ${cfg.version})`);
    }
    const norm = Math.hypot(...(v as number[]));
    if (norm === 0) throw new NonRetriableError('embedder_bad_answer', `the embeddings provider at ${host} returned a zero vector`);
    out[index] = (v as number[]).map((x) => x / norm);
  });
  return out;
}
