// The run-token Secrets through the whole system (real PostgreSQL, dispatch over HTTP,
// client-node against the FAKE Kubernetes API): crashes between a submission's steps heal
// into one Workflow owning its Secret, the tick adopts or deletes what a crash left
// ownerless, and a Workflow's Secret goes when the Workflow goes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OWNER_PENDING, tokenSecretName } from '../../shared/argo/index.js';
import { ORPHAN_TOKEN_GRACE_S } from '../../shared/dispatch/index.js';
import { startSystem, submitIdea, tick, WorkflowWatch, type System } from '../helpers/system.js';

const NS = 'argo-workflows';
let sys: System;
beforeEach(async () => {
  sys = await startSystem({ FACTEUR_SUBMIT_STALE_S: '1' });
});
afterEach(() => sys.close());

const isWorkflowCreate = (r: { method: string; path: string }) => r.method === 'POST' && r.path.endsWith('/workflows');
const isSecretPatch = (r: { method: string; path: string }) => r.method === 'PATCH' && r.path.includes('/secrets/');
const runOf = async (ideaId: string) =>
  (await sys.db.sql`select id, status, external_run_id, workflow_uid from codex_kb.task_runs where idea_id = ${ideaId}`)[0]!;
const secretFor = (workflow: string) => sys.kube!.secrets(NS).find((s) => s.metadata.name === tokenSecretName(workflow));
const makeStale = (runId: string) => sys.db.sql`update codex_kb.task_runs set queued_at = now() - interval '1 minute' where id = ${runId}`;

describe('a crash inside a submission', () => {
  it('between the Secret and the Workflow: the tick re-submits, one Workflow, the Secret adopted, and the step works', async () => {
    sys.kube!.failMatching(isWorkflowCreate, 3, 'reset'); // every try of this submission: as good as a crash
    const { ideaId } = await submitIdea(sys, { id: 'crash-secret' });
    await tick(sys);
    const run = await runOf(ideaId);
    expect(run.status).toBe('submitting');
    expect(sys.kube!.workflows(NS)).toHaveLength(0);
    expect(secretFor(run.external_run_id)?.metadata.labels[OWNER_PENDING]).toBe('true');

    await makeStale(run.id);
    const report = await tick(sys);
    expect(report.resubmitted).toBe(1);
    const workflows = sys.kube!.workflows(NS);
    expect(workflows.map((w) => w.metadata.name)).toEqual([run.external_run_id]);
    expect(sys.kube!.secrets(NS)).toHaveLength(1);
    expect(secretFor(run.external_run_id)?.metadata.ownerReferences?.map((r: any) => r.uid)).toEqual([workflows[0]!.metadata.uid]);
    expect(await runOf(ideaId)).toMatchObject({ status: 'running', workflow_uid: workflows[0]!.metadata.uid });
    // the step reads that Secret's token, and it is accepted
    const step = await new WorkflowWatch(sys, ideaId).next();
    expect((await step.post({ type: 'started' })).status).toBe(202);
  });

  it('between the Workflow and the owner patch: the run runs, and the next tick adopts the Secret', async () => {
    // the submission's tries, then the same tick's sweep's: the API keeps failing for a while
    sys.kube!.failMatching(isSecretPatch, 6, 503);
    const { ideaId } = await submitIdea(sys, { id: 'crash-patch' });
    expect(await tick(sys)).toMatchObject({ dispatched: 1, tokensAdopted: 0 });
    const run = await runOf(ideaId);
    expect(run.status).toBe('running'); // not held up by the garbage collection's bookkeeping
    expect(secretFor(run.external_run_id)?.metadata.ownerReferences).toBeUndefined();
    const report = await tick(sys);
    expect(report).toMatchObject({ tokensAdopted: 1, tokensDeleted: 0 });
    expect(secretFor(run.external_run_id)?.metadata.ownerReferences?.[0]?.uid).toBe(run.workflow_uid);
    expect(secretFor(run.external_run_id)?.metadata.labels).not.toHaveProperty(OWNER_PENDING);
    expect((await tick(sys)).tokensAdopted).toBe(0); // nothing left
  });

  it('the tick that submits adopts at once what its own submission could not', async () => {
    sys.kube!.failMatching(isSecretPatch, 3, 503); // only the submission's tries
    const { ideaId } = await submitIdea(sys, { id: 'crash-patch-once' });
    expect(await tick(sys)).toMatchObject({ dispatched: 1, tokensAdopted: 1 });
    const run = await runOf(ideaId);
    expect(secretFor(run.external_run_id)?.metadata.ownerReferences?.[0]?.uid).toBe(run.workflow_uid);
  });
});

describe('the tick’s sweep', () => {
  it('deletes an ownerless Secret once it is old and its run finished, never before', async () => {
    sys.kube!.failMatching(isWorkflowCreate, 6, 'reset');
    const finished = await submitIdea(sys, { id: 'orphan-finished' });
    const active = await submitIdea(sys, { id: 'orphan-active' });
    await tick(sys);
    const [f, a] = [await runOf(finished.ideaId), await runOf(active.ideaId)];
    expect([f.status, a.status]).toEqual(['submitting', 'submitting']);
    // one run ends while its Secret is still ownerless (here: cancelled before a re-submission)
    await sys.db.sql`update codex_kb.task_runs set status = 'cancelled', completed_at = now() where id = ${f.id}`;

    expect(await tick(sys)).toMatchObject({ tokensAdopted: 0, tokensDeleted: 0 }); // too young
    expect(secretFor(f.external_run_id)).toBeDefined();

    for (const r of [f, a]) sys.kube!.age(NS, tokenSecretName(r.external_run_id), ORPHAN_TOKEN_GRACE_S + 60);
    expect(await tick(sys)).toMatchObject({ tokensDeleted: 1 });
    expect(secretFor(f.external_run_id)).toBeUndefined();
    // the active run's Secret stays: its re-submission needs it, and then adopts it
    expect(secretFor(a.external_run_id)?.metadata.labels[OWNER_PENDING]).toBe('true');
    await makeStale(a.id);
    await tick(sys);
    expect(secretFor(a.external_run_id)?.metadata.ownerReferences).toHaveLength(1);
    expect(sys.kube!.workflows(NS).map((w) => w.metadata.name)).toEqual([a.external_run_id]);
  });

  it('leaves alone an ownerless Secret whose run this database does not know', async () => {
    sys.kube!.failMatching(isWorkflowCreate, 3, 'reset');
    const { ideaId } = await submitIdea(sys, { id: 'orphan-foreign' });
    await tick(sys);
    const run = await runOf(ideaId);
    const name = tokenSecretName(run.external_run_id);
    // as if another installation's: its run id is none of ours
    await fetch(`${sys.kube!.url}/api/v1/namespaces/${NS}/secrets/${name}`, {
      method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ metadata: { annotations: { 'facteur.dev/run-id': '99999999-9999-4999-8999-999999999999' } } }),
    });
    await sys.db.sql`update codex_kb.task_runs set status = 'cancelled', completed_at = now() where id = ${run.id}`;
    sys.kube!.age(NS, name, ORPHAN_TOKEN_GRACE_S + 60);
    expect(await tick(sys)).toMatchObject({ tokensDeleted: 0 });
    expect(secretFor(run.external_run_id)).toBeDefined();
  });
});

describe('garbage collection', () => {
  it('a timed-out attempt’s Workflow is deleted by the tick, and its Secret with it; the retry has its own', async () => {
    const { ideaId } = await submitIdea(sys, { id: 'gc-timeout' });
    const watch = new WorkflowWatch(sys, ideaId);
    await tick(sys);
    const a1 = await watch.next();
    expect((await a1.post({ type: 'started' })).status).toBe(202);
    expect(secretFor(a1.name)).toBeDefined();
    await sys.db.sql`update codex_kb.task_runs set last_heartbeat_at = now() - interval '1 hour' where idea_id = ${ideaId}`;
    expect(await tick(sys)).toMatchObject({ timedOut: 1, dispatched: 1 });
    expect(sys.kube!.workflows(NS).map((w) => w.metadata.name)).not.toContain(a1.name);
    expect(secretFor(a1.name)).toBeUndefined();
    const a2 = await watch.next();
    expect(secretFor(a2.name)?.metadata.ownerReferences?.[0]?.name).toBe(a2.name);
    expect(a2.token).not.toBe(a1.token);
  });
});
