// An idea's whole life through the functions over real HTTP: intake → dispatch → Argo
// (client-node against the fake API server, or a real cluster with KUBECONFIG) → step
// callbacks → plan → dependency-ordered implementation → review → integration → deploy →
// monitoring → completed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workflow } from '@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Workflow';
import { kafkaEventRequest } from '../helpers/http.js';
import { ideaDetail, plan, STAGE_RESULT, startSystem, submitIdea, tick, WorkflowWatch, type System } from '../helpers/system.js';

async function lifecycle(sys: System) {
  const { ideaId } = await submitIdea(sys, { id: `e2e-${Date.now()}`, title: 'Rate limiting', repository: 'acme/api' });
  // the outbox event, as the KafkaSource on facteur.events delivers it to dispatch
  const ce = kafkaEventRequest({ topic: 'facteur.events', body: JSON.stringify({ ideaId }) });
  const d = await fetch(sys.urls.dispatch, { method: 'POST', headers: ce.headers, body: ce.body as string });
  expect(d.status).toBe(200);
  const watch = new WorkflowWatch(sys, ideaId);

  const planning = await watch.next();
  expect(planning.stage).toBe('planning');
  expect(planning.decoded('eventBody')).toMatchObject({ stage: 'planning', ideaId });
  expect(Buffer.from(planning.params.intentAnchor!, 'base64').toString()).toContain('Rate limiting');
  await planning.run([{ kind: 'plan', data: plan(['api', 'ui', 'docs']) }]);

  // the chain api → ui → docs: each starts only after its predecessor succeeded
  for (const key of ['api', 'ui', 'docs']) {
    const step = await watch.next();
    expect(step.stage).toBe('implementation');
    expect(step.decoded('eventBody').taskKey).toBe(key);
    expect(await watch.pending()).toEqual([]);
    await step.run(STAGE_RESULT.implementation!);
  }
  for (const stage of ['review', 'integration', 'deploy']) {
    const step = await watch.next();
    expect(step.stage).toBe(stage);
    await step.run(STAGE_RESULT[stage]!);
  }
  // monitoring window 0 in this system: completed at once
  const detail = await ideaDetail(sys, ideaId);
  expect(detail.idea.status).toBe('completed');
  return { ideaId, detail };
}

describe('an idea from intake to completed (fake Kubernetes API)', () => {
  let sys: System;
  beforeAll(async () => {
    sys = await startSystem();
  });
  afterAll(() => sys.close());

  it('goes through every stage exactly once, in dependency order, visible in the status API', async () => {
    const { ideaId, detail } = await lifecycle(sys);
    expect(detail.tasks.map((t: any) => `${t.stage}:${t.key}:${t.state}`).sort()).toEqual([
      'deploy:deploy-1:succeeded', 'implementation:api:succeeded', 'implementation:docs:succeeded', 'implementation:ui:succeeded',
      'integration:integration-1:succeeded', 'planning:planning:succeeded', 'review:review-1:succeeded',
    ]);
    expect(detail.tasks.find((t: any) => t.key === 'ui').dependsOn).toEqual([{ key: 'api', type: 'hard' }]);
    expect(detail.runs).toHaveLength(7);
    for (const r of detail.runs) expect(r).toMatchObject({ status: 'succeeded', attempt: 1, workflowName: expect.stringMatching(/^facteur-/), startedAt: expect.any(String), completedAt: expect.any(String) });
    // every Workflow the API received is valid against the Argo CRD schema, and names its run
    const created = sys.kube!.workflows().filter((w: any) => w.metadata.annotations['facteur.dev/idea-id'] === ideaId);
    expect(created).toHaveLength(7);
    for (const w of created) {
      expect(() => new Workflow(w as any).validate()).not.toThrow();
      const run = detail.runs.find((r: any) => r.workflowName === w.metadata.name);
      expect(run.workflowUid).toBe(w.metadata.uid);
      expect(w.metadata.labels['facteur.dev/attempt']).toBe('1');
    }
    // a creates per workflow: nothing was submitted twice
    const creates = sys.kube!.requests.filter((r) => r.method === 'POST' && !r.injected);
    expect(new Set(creates.map((r: any) => r.body.metadata.name)).size).toBe(creates.length);
    // usage and cost recorded per run, metrics per run
    const [cost] = await sys.db.sql`select sum(cost_usd)::float as c, count(*)::int as n from codex_kb.task_runs where idea_id = ${ideaId}`;
    expect(cost).toEqual({ c: 0.07, n: 7 });
    const [m] = await sys.db.sql`select count(*)::int as n from codex_kb.run_metrics where idea_id = ${ideaId}`;
    expect(m!.n).toBe(7);
    // the tick finds nothing left to do for it
    const report = await tick(sys);
    expect(report.dispatched).toBe(0);
  });
});

describe.skipIf(!process.env.KUBECONFIG)('the same life against a real cluster (KUBECONFIG)', () => {
  // Runs only where a cluster with the Argo CRDs is reachable; this machine has none.
  let sys: System;
  beforeAll(async () => {
    sys = await startSystem({}, { realCluster: true });
  });
  afterAll(() => sys?.close());
  it('completes', async () => {
    await lifecycle(sys);
  });
});
