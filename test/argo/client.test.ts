// The Argo client over real HTTP, against the in-process fake API server: client-node
// serializes, sends and parses for real; only the server is a fake.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NonRetriableError, RetryableError } from '../../shared/errors/index.js';
import { SubmissionAbandoned, buildWorkflow, createArgoClient, kubeConfigFromEnv, type ArgoClient, type Workflow } from '../../shared/argo/index.js';
import { startFakeKube, type FakeKube } from '../helpers/fake-kube.js';
import { sampleInput, sampleToken } from './sample.js';

const NS = 'argo-workflows';
let kube: FakeKube;
let client: ArgoClient;
let sleeps: number[];

beforeEach(async () => {
  kube = await startFakeKube();
  sleeps = [];
  client = createArgoClient({
    kubeConfig: kube.kubeConfig(),
    namespace: NS,
    retry: { attempts: 4, baseMs: 5, maxMs: 2_000 },
    timeoutMs: 300,
    // Recorded and shortened so Retry-After (whole seconds) keeps the suite fast.
    sleep: async (ms) => {
      sleeps.push(ms);
      await new Promise((r) => setTimeout(r, Math.min(ms, 5)));
    },
  });
});
afterEach(async () => {
  await kube.close();
});

/** Workflow creates (each submission also creates, then patches, its run-token Secret first). */
const isWorkflowCreate = (r: { method: string; path: string }) => r.method === 'POST' && r.path.endsWith('/workflows');
const creates = () => kube.requests.filter(isWorkflowCreate);

describe('ArgoClient.submit', () => {
  it('creates the workflow (201) and returns its uid', async () => {
    const wf = buildWorkflow(sampleInput());
    const result = await client.submit(wf, sampleToken());
    expect(result.created).toBe(true);
    expect(result.name).toBe(wf.metadata.name);
    const stored = await kube.waitForCreate((w) => w.metadata.name === wf.metadata.name, 1_000);
    expect(result.uid).toBe(stored.metadata.uid);
    expect(stored.spec).toEqual(wf.spec);
    expect(stored.metadata.labels).toEqual(wf.metadata.labels);
    // the Secret first, then the Workflow, then the Secret is given its owner
    expect(kube.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST /api/v1/namespaces/${NS}/secrets`,
      `POST /apis/argoproj.io/v1alpha1/namespaces/${NS}/workflows`,
      `PATCH /api/v1/namespaces/${NS}/secrets/${wf.metadata.name}-token`,
    ]);
    expect(result.tokenOwned).toBe(true);
  });

  it('treats AlreadyExists (409) for the same run as success, with the same uid', async () => {
    const wf = buildWorkflow(sampleInput());
    const first = await client.submit(wf, sampleToken());
    const again = await client.submit(wf, sampleToken());
    expect(again).toEqual({ name: first.name, uid: first.uid, created: false, tokenOwned: true });
    expect(kube.workflows(NS)).toHaveLength(1);
    expect(kube.secrets(NS)).toHaveLength(1);
    const secret = `secrets/${wf.metadata.name}-token`;
    expect(kube.requests.map((r) => `${r.method} ${r.path.replace(/^.*\/namespaces\/[^/]+\//, '')}`)).toEqual([
      'POST secrets', 'POST workflows', `PATCH ${secret}`,
      'POST secrets', `GET ${secret}`, 'POST workflows', `GET workflows/${wf.metadata.name}`, `PATCH ${secret}`,
    ]);
  });

  it('refuses a name already taken by another run (ConflictError), never reading it as done', async () => {
    const wf = buildWorkflow(sampleInput());
    await client.submit(wf, sampleToken());
    const impostor = structuredClone(wf) as Workflow;
    impostor.metadata.annotations = { ...impostor.metadata.annotations, 'facteur.dev/run-id': 'another-run' };
    await expect(client.submit(impostor, sampleToken())).rejects.toBeInstanceOf(ConflictError);
  });

  it('retries 429 twice, honouring Retry-After, then succeeds', async () => {
    kube.failMatching(isWorkflowCreate, 2, 429, 1);
    const result = await client.submit(buildWorkflow(sampleInput()), sampleToken());
    expect(result.created).toBe(true);
    expect(creates().map((r) => r.injected ?? 'ok')).toEqual([429, 429, 'ok']);
    expect(sleeps).toEqual([1_000, 1_000]);
  });

  it('retries a 500, then succeeds', async () => {
    kube.failMatching(isWorkflowCreate, 1, 500);
    await expect(client.submit(buildWorkflow(sampleInput()), sampleToken())).resolves.toMatchObject({ created: true });
    expect(creates()).toHaveLength(2);
    expect(sleeps).toHaveLength(1);
    expect(sleeps[0]).toBeGreaterThanOrEqual(2.5); // backoff/2 + jitter, base 5 ms
    expect(sleeps[0]).toBeLessThanOrEqual(5);
  });

  it('retries a request that got no answer within the timeout, then succeeds', async () => {
    kube.failMatching(isWorkflowCreate, 1, 'timeout');
    const started = Date.now();
    await expect(client.submit(buildWorkflow(sampleInput()), sampleToken())).resolves.toMatchObject({ created: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(creates().map((r) => r.injected ?? 'ok')).toEqual(['timeout', 'ok']);
  });

  it('asks before each retry whether the run still wants its Workflow, and abandons when not', async () => {
    kube.failMatching(isWorkflowCreate, 2, 503);
    let asked = 0;
    const err = await client
      .submit(buildWorkflow(sampleInput()), sampleToken(), { guard: async (create) => ++asked < 2 && (await create(), true) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SubmissionAbandoned);
    // tried, retried once (still wanted), then the run had ended: no third create
    expect(creates().map((r) => r.injected ?? 'ok')).toEqual([503, 503]);
    expect(asked).toBe(2);
    expect(kube.workflows(NS)).toHaveLength(0);
    // and the token Secret made for it is gone with it
    expect(kube.secrets(NS)).toHaveLength(0);
  });

  it('asks before the first create too once the submission took recheckAfterMs (its Secret was retried), and creates nothing for an ended run', async () => {
    const slow = createArgoClient({ kubeConfig: kube.kubeConfig(), namespace: NS, retry: { attempts: 4, baseMs: 5, maxMs: 50 }, timeoutMs: 300, recheckAfterMs: 0 });
    kube.failMatching((r) => r.method === 'POST' && r.path.endsWith('/secrets'), 2, 503);
    let asked = 0;
    const err = await slow.submit(buildWorkflow(sampleInput()), sampleToken(), { guard: async () => (++asked, false) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SubmissionAbandoned);
    expect(asked).toBe(1);
    expect(creates()).toHaveLength(0);
    expect(kube.secrets(NS)).toHaveLength(0);
  });

  it('does not ask on the first try, and goes on while the run is wanted', async () => {
    kube.failMatching(isWorkflowCreate, 1, 503);
    let asked = 0;
    await expect(
      client.submit(buildWorkflow(sampleInput()), sampleToken(), { guard: async (create) => (++asked, await create(), true) }),
    ).resolves.toMatchObject({ created: true });
    expect(asked).toBe(1);
    expect(kube.workflows(NS)).toHaveLength(1);
  });

  it('retries a reset connection, then succeeds', async () => {
    kube.failMatching(isWorkflowCreate, 1, 'reset');
    await expect(client.submit(buildWorkflow(sampleInput()), sampleToken())).resolves.toMatchObject({ created: true });
    expect(creates()).toHaveLength(2);
  });

  it('reports created=false when a create landed but its answer was lost', async () => {
    const stop = kube.onCreate(() => {
      stop();
      throw new Error('answer lost');
    });
    const result = await client.submit(buildWorkflow(sampleInput()), sampleToken());
    expect(result.created).toBe(false);
    expect(kube.workflows(NS)).toHaveLength(1);
    expect(result.uid).toBe(kube.workflows(NS)[0]?.metadata.uid);
  });

  it('turns 422 Invalid into a NonRetriableError with the API message, without retrying', async () => {
    const wf = structuredClone(buildWorkflow(sampleInput())) as Workflow;
    wf.spec.arguments = { parameters: [{ value: 'no name' } as never] };
    const err = await client.submit(wf, sampleToken()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetriableError);
    expect((err as NonRetriableError).code).toBe('kubernetes_invalid');
    expect((err as Error).message).toMatch(/is invalid: .*must have required property name/);
    expect(creates()).toHaveLength(1);
    expect(sleeps).toEqual([]);
    // no Workflow will ever own the Secret this submission made: it is deleted again
    expect(kube.secrets(NS)).toEqual([]);
  });

  it('gives up with a RetryableError once the retries are spent', async () => {
    kube.failMatching(isWorkflowCreate, 10, 503);
    const err = await client.submit(buildWorkflow(sampleInput()), sampleToken()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as Error).message).toMatch(/HTTP 503 ServiceUnavailable.*gave up after 4 tries/);
    expect(creates()).toHaveLength(4);
    expect(kube.workflows()).toHaveLength(0);
    // kept for the re-submission (the run stays `submitting`), still marked owner-pending
    expect(kube.secrets(NS).map((s) => s.metadata.labels['facteur.dev/owner-pending'])).toEqual(['true']);
  });

  it('hands a Retry-After longer than maxMs back to the caller instead of blocking', async () => {
    kube.failMatching(isWorkflowCreate, 1, 429, 60);
    const err = await client.submit(buildWorkflow(sampleInput()), sampleToken()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).retryAfterMs).toBe(60_000);
    expect(sleeps).toEqual([]);
  });
});

describe('ArgoClient get, list, stop, delete', () => {
  it('gets a workflow, or undefined when there is none', async () => {
    const wf = buildWorkflow(sampleInput());
    const { uid } = await client.submit(wf, sampleToken());
    expect((await client.get(wf.metadata.name ?? ''))?.metadata.uid).toBe(uid);
    expect(await client.get('facteur-missing')).toBeUndefined();
  });

  it('lists by label', async () => {
    const a1 = buildWorkflow(sampleInput({ ideaId: 'idea-a', attempt: 1 }));
    const a2 = buildWorkflow(sampleInput({ ideaId: 'idea-a', attempt: 2 }));
    const b1 = buildWorkflow(sampleInput({ ideaId: 'idea-b', attempt: 1 }));
    for (const wf of [a1, a2, b1]) await client.submit(wf, sampleToken());
    const names = async (selector?: string) => (await client.list(selector)).map((w) => w.metadata.name).sort();
    expect(await names('facteur.dev/idea=idea-a')).toEqual([a1.metadata.name, a2.metadata.name].sort());
    expect(await names('facteur.dev/idea=idea-a,facteur.dev/attempt=2')).toEqual([a2.metadata.name]);
    expect(await names('facteur.dev/idea!=idea-a')).toEqual([b1.metadata.name]);
    expect(await names()).toHaveLength(3);
    expect(await names('facteur.dev/idea=nobody')).toEqual([]);
  });

  it('stops a workflow with a merge patch', async () => {
    const wf = buildWorkflow(sampleInput());
    await client.submit(wf, sampleToken());
    expect(await client.stop(wf.metadata.name ?? '')).toBe(true);
    expect((await client.get(wf.metadata.name ?? ''))?.spec.shutdown).toBe('Terminate');
    expect(kube.requests.find((r) => r.method === 'PATCH' && r.path.includes('/workflows/'))?.headers['content-type']).toBe('application/merge-patch+json');
    expect(await client.stop('facteur-missing', 'Stop')).toBe(false);
  });

  it('deletes idempotently', async () => {
    const wf = buildWorkflow(sampleInput());
    await client.submit(wf, sampleToken());
    expect(await client.delete(wf.metadata.name ?? '')).toBe(true);
    expect(await client.delete(wf.metadata.name ?? '')).toBe(false);
    expect(await client.get(wf.metadata.name ?? '')).toBeUndefined();
  });

  it('retries reads too', async () => {
    kube.failNext(1, 502);
    expect(await client.list()).toEqual([]);
    expect(kube.requests).toHaveLength(2);
  });
});

describe('kubeConfigFromEnv', () => {
  it('reads the file KUBECONFIG names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-kubeconfig-'));
    try {
      const file = join(dir, 'config');
      writeFileSync(file, kube.kubeConfig().exportConfig());
      const fromEnv = createArgoClient({ kubeConfig: kubeConfigFromEnv({ KUBECONFIG: file }), namespace: NS });
      expect(await fromEnv.list()).toEqual([]);
      expect(kube.requests).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says what to do when there is neither KUBECONFIG nor a cluster', () => {
    expect(() => kubeConfigFromEnv({})).toThrow(/set KUBECONFIG or run in a cluster/);
  });
});
