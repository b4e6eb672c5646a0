// The checkpoints in an idea's life, through the whole system (real PostgreSQL, the
// functions over real HTTP, the FAKE Kubernetes API): a strict pack makes an L1 idea wait
// for a human before the merge and the deploy, an L0 idea never implements before a human
// approves its plan, a path-scope violation blocks, a churn approval after implementation
// releases the idea on to review. Every wait and every block is an outbox event.
import { afterEach, describe, expect, it } from 'vitest';
import { plan, STAGE_RESULT, startSystem, submitIdea, tick, WorkflowWatch, type System } from '../helpers/system.js';
import { usePack } from './fixtures.js';

let sys: System | undefined;
afterEach(async () => {
  await sys?.close();
  sys = undefined;
});

const stateOf = async (s: System, ideaId: string) => {
  const [idea] = await s.db.sql<{ status: string; status_reason: string | null; resume_status: string | null }[]>`
    select status, status_reason, resume_status from codex_kb.ideas where id = ${ideaId}`;
  const tasks = await s.db.sql<{ key: string; state: string }[]>`select key, state from codex_kb.tasks where idea_id = ${ideaId} order by created_at, key`;
  return { ...idea!, tasks: Object.fromEntries(tasks.map((t) => [t.key, t.state])) };
};
const outbox = (s: System, ideaId: string, type: string) =>
  s.db.sql<{ data: any }[]>`select data from codex_kb.outbox where subject = ${ideaId} and type = ${type} order by id`;
const pendingApproval = async (s: System, ideaId: string) => {
  const [a] = await s.db.sql<{ id: string; checkpoint: string; task_id: string | null; reason: string; findings: any[]; required: number; effective_policy_hash: string }[]>`
    select id, checkpoint, task_id, reason, findings, required, effective_policy_hash from codex_kb.approvals where idea_id = ${ideaId} and status = 'pending'`;
  return a;
};
const approve = async (s: System, id: string) => {
  const r = await fetch(`${s.urls.status}/v1/approvals/${id}/approve`, { method: 'POST', headers: { 'x-facteur-actor': 'lead' } });
  expect(r.status).toBe(200);
};

describe('escalation at the checkpoints', () => {
  it('strict pack, L1: the merge and then the deploy wait for a human (task and idea awaiting_approval, outbox), then the idea completes', async () => {
    sys = await startSystem();
    await usePack(sys.db.sql, 'acme/strict-l1', '  autonomy: { mode: warn }\n', 'strict: true\n');
    const { ideaId } = await submitIdea(sys, { id: 'strict-l1', autonomyLevel: 'L1', repository: 'acme/strict-l1' });
    await tick(sys);
    const watch = new WorkflowWatch(sys, ideaId);
    await (await watch.next()).run([{ kind: 'plan', data: plan(['only']) }]);
    await tick(sys);
    await (await watch.next()).run(STAGE_RESULT.implementation!);
    await tick(sys);
    await (await watch.next()).run(STAGE_RESULT.review!);
    for (const [stage, checkpoint, resume] of [['integration', 'pre-merge', 'integration'], ['deploy', 'pre-deploy', 'deployment']] as const) {
      await tick(sys);
      expect(await watch.pending()).toEqual([]); // nothing starts without the human
      const s = await stateOf(sys, ideaId);
      expect(s).toMatchObject({ status: 'awaiting_approval', resume_status: resume, tasks: { [`${stage}-1`]: 'awaiting_approval' } });
      expect(s.status_reason).toMatch(new RegExp(`at ${checkpoint}: autonomy level L1 does not allow`));
      const a = (await pendingApproval(sys, ideaId))!;
      expect(a).toMatchObject({ checkpoint, required: 1, findings: [expect.objectContaining({ rule: 'autonomy', result: 'fail', approvable: true })] });
      const events = await outbox(sys, ideaId, 'facteur.idea.awaiting_approval');
      expect(events.at(-1)!.data).toMatchObject({ ideaId, checkpoint, approvalId: a.id, effectivePolicyHash: a.effective_policy_hash });
      await approve(sys, a.id);
      expect((await stateOf(sys, ideaId)).status).toBe(resume);
      await tick(sys);
      const step = await watch.next();
      expect(step.stage).toBe(stage);
      await step.run(STAGE_RESULT[stage]!);
    }
    expect((await stateOf(sys, ideaId)).status).toBe('completed');
    expect((await outbox(sys, ideaId, 'facteur.idea.awaiting_approval')).length).toBe(2);
  });

  it('L0: after the plan, no implementation runs before a human approves it', async () => {
    sys = await startSystem();
    await usePack(sys.db.sql, 'acme/observe', '  autonomy: { mode: enforce }\n');
    const { ideaId } = await submitIdea(sys, { id: 'observe', autonomyLevel: 'L0', repository: 'acme/observe' });
    await tick(sys);
    const watch = new WorkflowWatch(sys, ideaId);
    await (await watch.next()).run([{ kind: 'plan', data: plan(['a', 'b'], false) }]);
    for (let i = 0; i < 3; i++) await tick(sys);
    expect(await watch.pending()).toEqual([]);
    expect(await stateOf(sys, ideaId)).toMatchObject({ status: 'awaiting_approval', resume_status: 'plan_ready', tasks: { a: 'awaiting_approval', b: 'awaiting_approval' } });
    const [runs] = await sys.db.sql`select count(*)::int as n from codex_kb.task_runs r join codex_kb.tasks t on t.id = r.task_id where r.idea_id = ${ideaId} and t.stage = 'implementation'`;
    expect(runs!.n).toBe(0);
    const a = (await pendingApproval(sys, ideaId))!;
    expect(a).toMatchObject({ checkpoint: 'plan', task_id: null });
    expect(a.reason).toMatch(/autonomy level L0 does not allow implementation/);
    expect((await outbox(sys, ideaId, 'facteur.idea.awaiting_approval')).length).toBe(1);
    await approve(sys, a.id);
    expect(await stateOf(sys, ideaId)).toMatchObject({ status: 'plan_ready', tasks: { a: 'pending', b: 'pending' } });
    await tick(sys);
    const first = await watch.next();
    expect(first.stage).toBe('implementation');
  });

  it('L0: a rejected plan approval blocks the idea and the tasks it held; the idea waits while another approval is pending', async () => {
    sys = await startSystem();
    await usePack(sys.db.sql, 'acme/observe-no', '  autonomy: { mode: enforce }\n');
    const { ideaId } = await submitIdea(sys, { id: 'observe-no', autonomyLevel: 'L0', repository: 'acme/observe-no' });
    await tick(sys);
    const watch = new WorkflowWatch(sys, ideaId);
    await (await watch.next()).run([{ kind: 'plan', data: plan(['a'], false) }]);
    const a = (await pendingApproval(sys, ideaId))!;
    // a second approval asked for the same idea: granting the first must not release it
    const [other] = await sys.db.sql`insert into codex_kb.approvals (idea_id, checkpoint, reason, requested_by) values (${ideaId}, 'plan', 'another', 'test') returning id`;
    await approve(sys, other!.id);
    expect(await stateOf(sys, ideaId)).toMatchObject({ status: 'awaiting_approval', tasks: { a: 'awaiting_approval' } });
    const r = await fetch(`${sys.urls.status}/v1/approvals/${a.id}/reject`, { method: 'POST', headers: { 'x-facteur-actor': 'lead' }, body: JSON.stringify({ reason: 'not now' }) });
    expect(r.status).toBe(200);
    expect(await stateOf(sys, ideaId)).toMatchObject({ status: 'blocked', resume_status: 'plan_ready', tasks: { a: 'blocked' } });
    await tick(sys);
    expect(await watch.pending()).toEqual([]);
  });

  it('a path-scope violation under enforce blocks the task and the idea, with the files named', async () => {
    sys = await startSystem();
    await usePack(sys.db.sql, 'acme/scoped', '  pathScope: { mode: enforce }\n');
    const { ideaId } = await submitIdea(sys, { id: 'scoped', autonomyLevel: 'L3', repository: 'acme/scoped' });
    await tick(sys);
    const watch = new WorkflowWatch(sys, ideaId);
    await (await watch.next()).run([{ kind: 'plan', data: plan(['only']) }]); // paths: src/only
    await tick(sys);
    await (await watch.next()).run(STAGE_RESULT.implementation!); // src/feature.js, test/feature.test.js
    await tick(sys);
    expect(await watch.pending()).toEqual([]);
    const s = await stateOf(sys, ideaId);
    expect(s).toMatchObject({ status: 'blocked', resume_status: 'running_tasks', tasks: { only: 'blocked' } });
    expect(s.status_reason).toContain('changed 2 file(s) outside its plan paths (src/only): src/feature.js, test/feature.test.js');
    expect(await pendingApproval(sys, ideaId)).toBeUndefined(); // no approval can lift it
    const [blocked] = await outbox(sys, ideaId, 'facteur.idea.blocked');
    expect(blocked!.data).toMatchObject({ checkpoint: 'post-implementation', findings: [expect.objectContaining({ rule: 'pathScope', result: 'fail' })] });
  });

  it('churn over the limit after implementation: the idea waits, and once approved goes on to review', async () => {
    sys = await startSystem();
    await usePack(sys.db.sql, 'acme/churny', '  churn: { mode: enforce, maxLinesPerTask: 10 }\n');
    const { ideaId } = await submitIdea(sys, { id: 'churny', autonomyLevel: 'L3', repository: 'acme/churny' });
    await tick(sys);
    const watch = new WorkflowWatch(sys, ideaId);
    await (await watch.next()).run([{ kind: 'plan', data: plan(['only']) }]);
    await tick(sys);
    await (await watch.next()).run(STAGE_RESULT.implementation!); // 34 lines
    await tick(sys);
    expect(await watch.pending()).toEqual([]);
    expect(await stateOf(sys, ideaId)).toMatchObject({ status: 'awaiting_approval', resume_status: 'running_tasks', tasks: { only: 'succeeded' } });
    const a = (await pendingApproval(sys, ideaId))!;
    expect(a).toMatchObject({ checkpoint: 'post-implementation' });
    expect(a.reason).toContain('task only: 34 lines changed, over the limit of 10 per task');
    await approve(sys, a.id);
    expect((await stateOf(sys, ideaId)).status).toBe('qa_review');
    await tick(sys);
    expect((await watch.next()).stage).toBe('review');
  });
});
