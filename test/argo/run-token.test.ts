// The run token's way to the step, over real HTTP against the FAKE Kubernetes API: the
// Secret beside the Workflow, created first, owned by the Workflow once it exists,
// garbage-collected with it; the Workflow itself never holds the token. And the FAKE's
// Secrets API answering as the real one does.
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, RetryableError } from '../../shared/errors/index.js';
import {
  OWNER_PENDING,
  buildRunTokenSecret,
  buildWorkflow,
  createArgoClient,
  tokenOf,
  tokenSecretName,
  type ArgoClient,
  type Workflow,
} from '../../shared/argo/index.js';
import { startFakeKube, type FakeKube } from '../helpers/fake-kube.js';
import { SAMPLE_TOKEN, sampleInput, sampleToken } from './sample.js';

const NS = 'argo-workflows';
let kube: FakeKube;
let client: ArgoClient;

beforeEach(async () => {
  kube = await startFakeKube();
  client = createArgoClient({ kubeConfig: kube.kubeConfig(), namespace: NS, retry: { attempts: 3, baseMs: 1, maxMs: 20 }, timeoutMs: 300 });
});
afterEach(() => kube.close());

const secretOf = (wf: Workflow) => kube.secrets(NS).find((s) => s.metadata.name === tokenSecretName(wf.metadata.name ?? ''));
const isWorkflowCreate = (r: { method: string; path: string }) => r.method === 'POST' && r.path.endsWith('/workflows');
const secretsUrl = (name = '') => `${kube.url}/api/v1/namespaces/${NS}/secrets${name ? `/${name}` : ''}`;
const raw = async (url: string, init: RequestInit = {}) => {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...(init.headers ?? {}) } });
  return { status: res.status, body: (await res.json()) as any };
};

describe('submit: the token travels in a Secret, never in the Workflow', () => {
  it('the Workflow, as sent and as stored, contains the token nowhere', async () => {
    const wf = buildWorkflow(sampleInput());
    await client.submit(wf, sampleToken());
    const sent = kube.requests.filter(isWorkflowCreate).map((r) => JSON.stringify(r.body));
    const stored = JSON.stringify(kube.workflows(NS));
    for (const text of [...sent, stored]) {
      expect(text).not.toContain(SAMPLE_TOKEN);
      expect(text).not.toContain(Buffer.from(SAMPLE_TOKEN).toString('base64'));
      expect(text).not.toContain('runToken');
    }
    expect(tokenOf(secretOf(wf))).toBe(SAMPLE_TOKEN);
  });

  it('the Secret is owned by the Workflow (its uid), labelled with its idea, task, run and attempt', async () => {
    const wf = buildWorkflow(sampleInput({ attempt: 2 }));
    const { uid } = await client.submit(wf, sampleToken());
    const secret = secretOf(wf)!;
    expect(secret.metadata.ownerReferences).toEqual([
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', name: wf.metadata.name, uid, blockOwnerDeletion: false },
    ]);
    expect(secret.metadata.labels).toMatchObject({
      'facteur.dev/idea': wf.metadata.labels!['facteur.dev/idea'],
      'facteur.dev/task': 'api-auth',
      'facteur.dev/run': sampleInput().runId,
      'facteur.dev/attempt': '2',
      'app.kubernetes.io/component': 'run-token',
    });
    expect(secret.metadata.labels).not.toHaveProperty(OWNER_PENDING);
    expect(secret.type).toBe('Opaque');
  });

  it('deleting the Workflow deletes its Secret (garbage collection)', async () => {
    const keep = buildWorkflow(sampleInput({ taskKey: 'other' }));
    const wf = buildWorkflow(sampleInput());
    await client.submit(keep, sampleToken());
    await client.submit(wf, sampleToken());
    expect(kube.secrets(NS)).toHaveLength(2);
    expect(await client.delete(wf.metadata.name ?? '')).toBe(true);
    expect(secretOf(wf)).toBeUndefined();
    expect(secretOf(keep)).toBeDefined(); // another owner's: untouched
  });

  it('a crash between the Secret and the Workflow heals on re-submission: one Workflow, the Secret adopted', async () => {
    const wf = buildWorkflow(sampleInput());
    kube.failMatching(isWorkflowCreate, 3, 'reset'); // as many as the client tries: the process gives up
    await expect(client.submit(wf, sampleToken())).rejects.toBeInstanceOf(RetryableError);
    expect(kube.workflows(NS)).toHaveLength(0);
    expect(secretOf(wf)?.metadata.labels[OWNER_PENDING]).toBe('true'); // kept: the run is still `submitting`
    const result = await client.submit(wf, sampleToken()); // the tick's re-submission
    expect(result).toMatchObject({ created: true, tokenOwned: true });
    expect(kube.workflows(NS)).toHaveLength(1);
    expect(kube.secrets(NS)).toHaveLength(1);
    expect(secretOf(wf)?.metadata.ownerReferences?.[0]?.uid).toBe(result.uid);
  });

  it('a crash between the Workflow and the owner patch heals the same way', async () => {
    const wf = buildWorkflow(sampleInput());
    kube.failMatching((r) => r.method === 'PATCH' && r.path.includes('/secrets/'), 3, 503);
    const first = await client.submit(wf, sampleToken());
    // the Workflow runs with its token; only the garbage collection waits
    expect(first).toMatchObject({ created: true, tokenOwned: false });
    expect(secretOf(wf)?.metadata.ownerReferences).toBeUndefined();
    const again = await client.submit(wf, sampleToken());
    expect(again).toMatchObject({ created: false, uid: first.uid, tokenOwned: true });
    expect(secretOf(wf)?.metadata.ownerReferences?.[0]?.uid).toBe(first.uid);
  });

  it('an existing Secret of the same attempt gets this token (the server secret was rotated)', async () => {
    const wf = buildWorkflow(sampleInput());
    await client.submit(wf, sampleToken('old-token'));
    expect(tokenOf(secretOf(wf))).toBe('old-token');
    await client.submit(wf, sampleToken('new-token'));
    expect(tokenOf(secretOf(wf))).toBe('new-token');
    expect(kube.secrets(NS)).toHaveLength(1);
  });

  it('a Secret name held by another run is a ConflictError, and no Workflow is created', async () => {
    const wf = buildWorkflow(sampleInput());
    const other = structuredClone(buildRunTokenSecret(wf, 'someone-elses')) as any;
    other.metadata.annotations['facteur.dev/run-id'] = 'another-run';
    expect((await raw(secretsUrl(), { method: 'POST', body: JSON.stringify(other) })).status).toBe(201);
    const err = await client.submit(wf, sampleToken()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).code).toBe('secret_name_taken');
    expect(kube.workflows(NS)).toHaveLength(0);
    expect(tokenOf(secretOf(wf))).toBe('someone-elses'); // left as it was
  });

  it('a Secret deleted between the Workflow and the patch is re-created, owned', async () => {
    const wf = buildWorkflow(sampleInput());
    kube.onCreate(async () => {
      await fetch(secretsUrl(tokenSecretName(wf.metadata.name ?? '')), { method: 'DELETE' });
    });
    const result = await client.submit(wf, sampleToken());
    expect(result.tokenOwned).toBe(true);
    expect(secretOf(wf)?.metadata.ownerReferences?.[0]?.uid).toBe(result.uid);
    expect(secretOf(wf)?.metadata.labels).not.toHaveProperty(OWNER_PENDING);
    expect(tokenOf(secretOf(wf))).toBe(SAMPLE_TOKEN);
  });

  it('retries the Secret calls as it retries the Workflow calls', async () => {
    kube.failMatching((r) => r.path.includes('/secrets'), 2, 503);
    await expect(client.submit(buildWorkflow(sampleInput()), sampleToken())).resolves.toMatchObject({ created: true, tokenOwned: true });
    expect(kube.requests.filter((r) => r.injected === 503)).toHaveLength(2);
  });
});

describe('tokens: the sweep of ownerless Secrets', () => {
  async function orphanOnly(wf: Workflow) {
    kube.failMatching(isWorkflowCreate, 3, 503);
    await client.submit(wf, sampleToken()).catch(() => undefined);
    return (await client.tokens.orphans())[0]!;
  }

  it('lists the owner-pending ones only; one without its Workflow is not adopted', async () => {
    const owned = buildWorkflow(sampleInput({ taskKey: 'owned' }));
    await client.submit(owned, sampleToken());
    const wf = buildWorkflow(sampleInput());
    const orphan = await orphanOnly(wf);
    expect((await client.tokens.orphans()).map((o) => o.name)).toEqual([tokenSecretName(wf.metadata.name ?? '')]);
    expect(orphan).toMatchObject({ workflow: wf.metadata.name, runId: sampleInput().runId, attempt: 1, createdAt: expect.any(Date) });
    expect(await client.tokens.adopt(orphan)).toBe(false); // no Workflow yet
    expect(secretOf(wf)?.metadata.labels[OWNER_PENDING]).toBe('true');
  });

  it('does not adopt for a Workflow of the same name that is another run’s', async () => {
    const wf = buildWorkflow(sampleInput());
    const orphan = await orphanOnly(wf);
    const impostor = structuredClone(wf) as Workflow;
    impostor.metadata.annotations = { ...impostor.metadata.annotations, 'facteur.dev/run-id': 'another-run' };
    const res = await fetch(`${kube.url}/apis/argoproj.io/v1alpha1/namespaces/${NS}/workflows`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(impostor),
    });
    expect(res.status).toBe(201);
    expect(await client.tokens.adopt(orphan)).toBe(false);
    expect(secretOf(wf)?.metadata.ownerReferences).toBeUndefined();
  });

  it('adopts on its own when the Workflow exists but the patch never came', async () => {
    const wf = buildWorkflow(sampleInput());
    kube.failMatching((r) => r.method === 'PATCH', 3, 500);
    const { uid } = await client.submit(wf, sampleToken());
    const [orphan] = await client.tokens.orphans();
    expect(await client.tokens.adopt(orphan!)).toBe(true);
    expect(secretOf(wf)?.metadata.ownerReferences?.[0]?.uid).toBe(uid);
    expect(await client.tokens.orphans()).toEqual([]);
  });

  it('removes an orphan only if it is still what was listed', async () => {
    const wf = buildWorkflow(sampleInput());
    const orphan = await orphanOnly(wf);
    // changed since listed (here: given an owner by a late submission): not deleted
    await client.submit(wf, sampleToken());
    expect(await client.tokens.remove(orphan)).toBe(false);
    expect(secretOf(wf)).toBeDefined();
    const lone = await orphanOnly(buildWorkflow(sampleInput({ taskKey: 'lone' })));
    expect(await client.tokens.remove(lone)).toBe(true);
    expect(await client.tokens.remove(lone)).toBe(false); // already gone
  });
});

describe('the FAKE Secrets API', () => {
  const core = () => kube.kubeConfig().makeApiClient(CoreV1Api);
  const body = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: { token: 'dG9r' }, ...extra });

  it('creates (201), reads, lists by label, patches (merge) and deletes (Success Status), through client-node', async () => {
    const created = await core().createNamespacedSecret({ namespace: NS, body: { ...body('a'), metadata: { name: 'a', labels: { x: '1' } } } as V1Secret });
    expect(created.metadata).toMatchObject({ name: 'a', namespace: NS, uid: expect.any(String), resourceVersion: expect.any(String) });
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    await core().createNamespacedSecret({ namespace: NS, body: body('b') as V1Secret });
    expect((await core().readNamespacedSecret({ name: 'a', namespace: NS })).data).toEqual({ token: 'dG9r' });
    expect((await core().listNamespacedSecret({ namespace: NS, labelSelector: 'x=1' })).items.map((s) => s.metadata?.name)).toEqual(['a']);
    const patched = await raw(secretsUrl('a'), { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { labels: { x: null, y: '2' } } }) });
    expect(patched).toMatchObject({ status: 200, body: { metadata: { labels: { y: '2' } } } });
    expect(patched.body.metadata.labels).not.toHaveProperty('x');
    const gone = await raw(secretsUrl('a'), { method: 'DELETE' });
    expect(gone).toMatchObject({ status: 200, body: { kind: 'Status', status: 'Success', details: { name: 'a', kind: 'secrets' } } });
    expect(kube.secrets(NS).map((s) => s.metadata.name)).toEqual(['b']);
  });

  it('answers failures with the real status codes and Status bodies', async () => {
    expect((await raw(secretsUrl(), { method: 'POST', body: JSON.stringify(body('a')) })).status).toBe(201);
    expect(await raw(secretsUrl(), { method: 'POST', body: JSON.stringify(body('a')) })).toEqual({
      status: 409,
      body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'secrets "a" already exists', reason: 'AlreadyExists', details: { name: 'a', kind: 'secrets' }, code: 409 },
    });
    expect((await raw(secretsUrl('nope'))).body).toMatchObject({ code: 404, reason: 'NotFound', message: 'secrets "nope" not found', details: { name: 'nope', kind: 'secrets' } });
    expect((await raw(secretsUrl(), { method: 'POST', body: JSON.stringify(body('c', { data: { token: 'not base64!' } })) })).body).toMatchObject({ code: 400, reason: 'BadRequest' });
    const badOwner = body('d', { metadata: { name: 'd', ownerReferences: [{ apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', name: 'w' }] } });
    expect((await raw(secretsUrl(), { method: 'POST', body: JSON.stringify(badOwner) })).body).toMatchObject({ code: 422, reason: 'Invalid' });
    expect((await raw(secretsUrl(), { method: 'POST', body: JSON.stringify(body('Bad_Name')) })).body).toMatchObject({ code: 422, reason: 'Invalid' });
    expect((await raw(secretsUrl(), { method: 'POST', body: JSON.stringify({ ...body('e'), kind: 'ConfigMap' }) })).status).toBe(400);
    const wrongPatch = await raw(secretsUrl('a'), { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: '[]' });
    expect(wrongPatch.status).toBe(415);
    const invalidPatch = await raw(secretsUrl('a'), { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ data: { token: 7 } }) });
    expect(invalidPatch.body).toMatchObject({ code: 422, reason: 'Invalid' });
    const stale = await raw(secretsUrl('a'), { method: 'DELETE', body: JSON.stringify({ preconditions: { resourceVersion: '1' } }) });
    expect(stale.body).toMatchObject({ code: 409, reason: 'Conflict', message: expect.stringContaining('the ResourceVersion in the precondition (1) does not match') });
    expect((await raw(secretsUrl('a'), { method: 'DELETE', body: JSON.stringify({ preconditions: { uid: 'other' } }) })).body).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(kube.secrets(NS)).toHaveLength(1);
  });

  it('collects a dependent whose owners are all gone, and keeps one with an owner left', async () => {
    const a = buildWorkflow(sampleInput({ taskKey: 'a' }));
    const b = buildWorkflow(sampleInput({ taskKey: 'b' }));
    const ua = (await client.submit(a, sampleToken())).uid;
    const ub = (await client.submit(b, sampleToken())).uid;
    const ref = (name: string | undefined, uid: string) => ({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', name, uid });
    await raw(secretsUrl(), { method: 'POST', body: JSON.stringify(body('shared', { metadata: { name: 'shared', ownerReferences: [ref(a.metadata.name, ua), ref(b.metadata.name, ub)] } })) });
    await raw(secretsUrl(), { method: 'POST', body: JSON.stringify(body('dangling', { metadata: { name: 'dangling', ownerReferences: [ref('ghost', 'no-such-uid')] } })) });
    expect(kube.secrets(NS).map((s) => s.metadata.name)).not.toContain('dangling'); // its owner never existed
    await client.delete(a.metadata.name ?? '');
    expect(kube.secrets(NS).map((s) => s.metadata.name).sort()).toEqual(['shared', tokenSecretName(b.metadata.name ?? '')].sort());
    await client.delete(b.metadata.name ?? '');
    expect(kube.secrets(NS)).toEqual([]);
  });

  it('validates every Secret it stores against the v1 Secret schema', async () => {
    const { Secret } = await import('kubernetes-models/v1/Secret');
    await client.submit(buildWorkflow(sampleInput()), sampleToken());
    for (const s of kube.secrets(NS)) expect(() => new Secret(s as never).validate()).not.toThrow();
  });
});
