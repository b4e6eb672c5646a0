// The OpenAI-compatible provider against a FAKE local embeddings server (test/kb/
// fake-embeddings.ts): batching, order by index, unit vectors, 429 with Retry-After then
// success, 5xx, a timeout, the bounded total time, a wrong dimension, the key never in a
// message; and createEmbedder's choice from the configuration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, Secret } from '../../shared/config/index.js';
import type { EmbeddingsConfig } from '../../shared/config/kb-store.js';
import { NonRetriableError, RetryableError, ValidationError } from '../../shared/errors/index.js';
import { createEmbedder, createOpenAiEmbedder, embeddingsEndpoint, embedLocal, retryAfterMs } from '../../shared/kb/embed/index.js';
import { startFakeEmbeddings, type FakeEmbeddings } from './fake-embeddings.js';

const KEY = 'sk-test-THE-KEY-0123456789';
let fake: FakeEmbeddings;
const cfg = (over: Partial<EmbeddingsConfig> = {}): EmbeddingsConfig => ({
  url: fake.url,
  model: 'fake-embed',
  dimensions: 64,
  version: 'fake-64-v1',
  apiKey: new Secret(KEY),
  batch: 3,
  timeoutMs: 2000,
  maxTotalMs: 5000,
  sendDimensions: false,
  ...over,
});
const fast = { baseBackoffMs: 5, maxBackoffMs: 20 };
const norm = (v: number[]) => Math.hypot(...v);

beforeAll(async () => {
  fake = await startFakeEmbeddings(64);
});
afterAll(() => fake.close());

const reset = () => {
  fake.requests.length = 0;
  fake.faults.length = 0;
  fake.outage = undefined;
};

describe('OpenAI-compatible embedder (FAKE provider)', () => {
  it('sends batches of the configured size, keeps input order, returns unit vectors, sends the key as a bearer token', async () => {
    reset();
    const texts = ['alpha beta', 'gamma delta', 'epsilon', 'zeta eta', 'theta', 'iota kappa', 'lambda'];
    const e = createOpenAiEmbedder(cfg(), fast);
    const vs = await e.embed(texts);
    expect(fake.requests.map((r) => r.input.length)).toEqual([3, 3, 1]);
    expect(fake.requests.flatMap((r) => r.input)).toEqual(texts);
    expect(fake.requests.every((r) => r.authorization === `Bearer ${KEY}` && r.model === 'fake-embed')).toBe(true);
    expect(vs).toHaveLength(7);
    for (const [i, v] of vs.entries()) {
      expect(norm(v)).toBeCloseTo(1, 9);
      // the fake answers in reverse order: the provider put them back by index
      const expected = embedLocal(texts[i]!, 64);
      expect(v.every((x, j) => Math.abs(x - expected[j]!) < 1e-9)).toBe(true);
    }
  });

  it('waits what Retry-After asks after a 429, then succeeds', async () => {
    reset();
    fake.faults.push({ kind: 'status', status: 429, retryAfter: '1' });
    const e = createOpenAiEmbedder(cfg(), fast);
    const v = await e.embed(['rate limited once']);
    expect(v).toHaveLength(1);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]!.at - fake.requests[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('retries 5xx and a dropped connection with backoff, then succeeds', async () => {
    reset();
    fake.faults.push({ kind: 'status', status: 503 }, { kind: 'reset' }, { kind: 'status', status: 500 });
    const v = await createOpenAiEmbedder(cfg(), fast).embed(['flaky']);
    expect(v).toHaveLength(1);
    expect(fake.requests).toHaveLength(4);
  });

  it('a request slower than the timeout is retried; an outage gives up retryable within the bounded total time', async () => {
    reset();
    fake.faults.push({ kind: 'slow', ms: 1500 });
    const v = await createOpenAiEmbedder(cfg({ timeoutMs: 300 }), fast).embed(['slow once']);
    expect(v).toHaveLength(1);
    expect(fake.requests).toHaveLength(2);

    reset();
    fake.outage = { kind: 'slow', ms: 2000 };
    const started = Date.now();
    const err = await createOpenAiEmbedder(cfg({ timeoutMs: 200, maxTotalMs: 1000 }), fast).embed(['down']).catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).code).toBe('embedder_timeout');
    expect(took).toBeLessThan(2000);
    expect(fake.requests.length).toBeGreaterThanOrEqual(2);
  });

  it('a Retry-After past the total time gives up at once, retryable, with the wait it asked for', async () => {
    reset();
    fake.outage = { kind: 'status', status: 429, retryAfter: '120' };
    const err = await createOpenAiEmbedder(cfg({ maxTotalMs: 2000 }), fast).embed(['x']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).code).toBe('embedder_rate_limited');
    expect((err as RetryableError).retryAfterMs).toBe(120_000);
    expect(fake.requests).toHaveLength(1);
  });

  it('a wrong dimension is a non-retriable error naming both numbers, asked once', async () => {
    reset();
    fake.faults.push({ kind: 'dimensions', dimensions: 32 });
    const err = await createOpenAiEmbedder(cfg(), fast).embed(['wrong']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetriableError);
    expect((err as NonRetriableError).code).toBe('embedder_dimension');
    expect((err as Error).message).toMatch(/32 dimensions/);
    expect((err as Error).message).toMatch(/is 64/);
    expect(fake.requests).toHaveLength(1);
  });

  it('never puts the key in an error, even when the provider echoes it', async () => {
    reset();
    fake.faults.push({ kind: 'status', status: 401, body: `{"error":"Incorrect API key provided: ${KEY}"}` });
    const err = (await createOpenAiEmbedder(cfg(), fast).embed(['x']).catch((e: unknown) => e)) as NonRetriableError;
    expect(err).toBeInstanceOf(NonRetriableError);
    expect(err.code).toBe('embedder_refused');
    expect(err.message).toContain('401');
    expect(err.message).toContain('[secret]');
    expect(`${err.message} ${err.stack} ${JSON.stringify(err)}`).not.toContain(KEY);

    reset();
    fake.outage = { kind: 'status', status: 503, body: `upstream saw ${KEY}` };
    const down = (await createOpenAiEmbedder(cfg({ maxTotalMs: 200 }), fast).embed(['x']).catch((e: unknown) => e)) as Error;
    expect(down).toBeInstanceOf(RetryableError);
    expect(down.message).not.toContain(KEY);
  });

  it('reads Retry-After in seconds and as a date; builds the endpoint from a base or a full URL', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(embeddingsEndpoint('http://h:11434/v1')).toBe('http://h:11434/v1/embeddings');
    expect(embeddingsEndpoint('http://h/v1/')).toBe('http://h/v1/embeddings');
    const azure = 'https://x.openai.azure.com/openai/deployments/emb/embeddings?api-version=2024-02-01';
    expect(embeddingsEndpoint(azure)).toBe(azure);
  });
});

describe('createEmbedder from the configuration', () => {
  it('is the local default without a URL, the provider under its version with one', async () => {
    const local = createEmbedder(loadConfig({}));
    expect(local).toMatchObject({ provider: 'local', version: 'local-hash-384-v1', dimensions: 384 });
    reset();
    const remote = createEmbedder(loadConfig({
      FACTEUR_EMBEDDINGS_URL: fake.url, FACTEUR_EMBEDDINGS_MODEL: 'fake-embed', FACTEUR_EMBEDDINGS_DIMENSIONS: '64',
      FACTEUR_EMBEDDINGS_VERSION: 'fake-64-v1', FACTEUR_EMBEDDINGS_API_KEY: KEY, FACTEUR_EMBEDDINGS_BATCH: '2',
    }));
    expect(remote).toMatchObject({ provider: 'openai', version: 'fake-64-v1', dimensions: 64, model: 'fake-embed' });
    await remote.embed(['a', 'b', 'c']);
    expect(fake.requests.map((r) => r.input.length)).toEqual([2, 1]);
  });

  it('refuses a URL without model, dimensions and version, a bad version name, and provider settings without a URL — every problem named, the key never printed', () => {
    const err = (() => {
      try {
        loadConfig({ FACTEUR_EMBEDDINGS_URL: 'http://127.0.0.1:1/v1', FACTEUR_EMBEDDINGS_API_KEY: KEY });
      } catch (e) {
        return e as ValidationError;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect(err!.issues.map((i) => i.path).sort()).toEqual(['FACTEUR_EMBEDDINGS_DIMENSIONS', 'FACTEUR_EMBEDDINGS_MODEL', 'FACTEUR_EMBEDDINGS_VERSION']);
    expect(err!.message).not.toContain(KEY);
    expect(() => loadConfig({ FACTEUR_EMBEDDINGS_URL: 'http://h/v1', FACTEUR_EMBEDDINGS_MODEL: 'm', FACTEUR_EMBEDDINGS_DIMENSIONS: '8', FACTEUR_EMBEDDINGS_VERSION: "Bad'; drop" })).toThrow(/FACTEUR_EMBEDDINGS_VERSION/);
    expect(() => loadConfig({ FACTEUR_EMBEDDINGS_MODEL: 'm' })).toThrow(/FACTEUR_EMBEDDINGS_MODEL: needs FACTEUR_EMBEDDINGS_URL/);
    const printed = JSON.stringify(loadConfig({ FACTEUR_EMBEDDINGS_URL: 'http://h/v1', FACTEUR_EMBEDDINGS_MODEL: 'm', FACTEUR_EMBEDDINGS_DIMENSIONS: '8', FACTEUR_EMBEDDINGS_VERSION: 'v1', FACTEUR_EMBEDDINGS_API_KEY: KEY }));
    expect(printed).not.toContain(KEY);
  });
});
