// Usage past the budget stops the run, through the real callbacks function over HTTP: a
// heartbeat reporting usage past an enforced budget is answered with `stop`, the run is
// cancelled (`budget_exceeded`), the task and the idea are blocked and announced;
// `facteur-step` exits 3 on that answer. Then the cost as the status API attributes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activatePack, putPack, putRepositoryPolicy } from '../../shared/policy/store.js';
import { runStep } from '../../shared/step/index.js';
import { ideaDetail, startSystem, submitIdea, tick, WorkflowWatch, type System } from '../helpers/system.js';
import { planArtifact } from '../chaos/ideas.js';

const REPO = 'acme/budgeted';
const PACK = `schemaVersion: 1
key: budgeted
version: 1
rules:
  budgets:
    mode: enforce
    perIdea: { maxCostUsd: 50, maxTokens: 1000000 }
    estimates: { planning: { costUsd: 0.25, tokens: 1000 }, implementation: { costUsd: 0.25, tokens: 1000 } }
`;

let sys: System;

beforeAll(async () => {
  sys = await startSystem();
  await putPack(sys.db.sql, PACK, 'api', 'test');
  await activatePack(sys.db.sql, 'budgeted', 1, 'test');
  await putRepositoryPolicy(sys.db.sql, REPO, { pack: { key: 'budgeted', version: 1 }, overrides: {}, repoLocal: false }, 'test');
});
afterAll(() => sys.close());

async function planningStep(id: string, maxCostUsd: number) {
  const { ideaId } = await submitIdea(sys, { id, repository: REPO, budget: { maxCostUsd } });
  await tick(sys);
  const step = await new WorkflowWatch(sys, ideaId).next();
  expect(step.stage).toBe('planning');
  return { ideaId, step };
}

describe('a heartbeat past the budget', () => {
  let ideaId: string;
  let runId: string;

  it('within the budget, a heartbeat with usage is recorded on the run and answered as usual', async () => {
    const { ideaId: id, step } = await planningStep('budget-stop-1', 1);
    ideaId = id;
    runId = step.runId;
    expect((await step.post({ type: 'started' }, { seq: 1 })).status).toBe(202);
    const ok = await step.post({ type: 'heartbeat', progress: 0.2, usage: { inputTokens: 300, outputTokens: 100, costUsd: 0.4 } }, { seq: 2 });
    expect(ok.status).toBe(202);
    expect(ok.body).not.toHaveProperty('stop');
    const [run] = await sys.db.sql`select cost_usd::float as cost, usage, effective_policy_hash, estimate_cost_usd::float as est from codex_kb.task_runs where id = ${runId}`;
    expect(run).toMatchObject({ cost: 0.4, usage: { inputTokens: 300, outputTokens: 100, costUsd: 0.4 }, est: 0.25, effective_policy_hash: expect.stringMatching(/^[0-9a-f]{64}$/) });

    // past the Idea Spec's $1 (lower than the pack's $50): stop
    const stop = await step.post({ type: 'heartbeat', usage: { inputTokens: 900, outputTokens: 300, costUsd: 1.2 } }, { seq: 3 });
    expect(stop.status).toBe(202);
    expect(stop.body).toMatchObject({
      runStatus: 'cancelled',
      stop: { reason: 'budget_exceeded', scope: 'idea', limits: { maxCostUsd: 1, maxTokens: 1000000 }, spent: { costUsd: 1.2, tokens: 1200 } },
    });
    expect(stop.body.stop.message).toBe('budget exceeded: the idea: cost $1.2 of $1');
    // the answer to a resend is the same stop; anything newer is refused: the run is over
    expect(await step.post({ type: 'heartbeat', usage: { inputTokens: 900, outputTokens: 300, costUsd: 1.2 } }, { seq: 3 })).toEqual({ status: 200, body: stop.body });
    expect((await step.post({ type: 'heartbeat' }, { seq: 4 })).status).toBe(409);

    const [after] = await sys.db.sql`
      select r.status as run, r.error_code, t.state as task, t.state_reason, i.status as idea, i.status_reason
        from codex_kb.task_runs r join codex_kb.tasks t on t.id = r.task_id join codex_kb.ideas i on i.id = r.idea_id where r.id = ${runId}`;
    expect(after).toMatchObject({ run: 'cancelled', error_code: 'budget_exceeded', task: 'blocked', idea: 'blocked', status_reason: 'budget exceeded: the idea: cost $1.2 of $1' });
    const [event] = await sys.db.sql`select data from codex_kb.outbox where type = 'facteur.idea.blocked' and subject = ${ideaId}`;
    expect(event!.data).toMatchObject({ ideaId, runId, rule: 'budgets' });
    const [finding] = await sys.db.sql`select rule, result, enforced, run_id from codex_kb.policy_findings where idea_id = ${ideaId} and rule = 'budgets'`;
    expect(finding).toMatchObject({ rule: 'budgets', result: 'fail', enforced: true, run_id: runId });
    const [audit] = await sys.db.sql`select action from codex_kb.audit_log where subject_id = ${runId} and action = 'budget.stopped'`;
    expect(audit).toBeDefined();
  });

  it('the status API attributes the cost to the idea, by stage, against its budget; /v1/costs per repository per day and stage', async () => {
    const detail = await ideaDetail(sys, ideaId);
    expect(detail.cost).toEqual({
      usd: 1.2, tokens: 1200, byStage: { planning: { usd: 1.2, tokens: 1200, runs: 1 } },
      budget: { limits: { maxCostUsd: 1, maxTokens: 1000000 }, spent: { costUsd: 1.2, tokens: 1200 }, remaining: { maxCostUsd: 0, maxTokens: 998800 } },
    });
    const today = new Date().toISOString().slice(0, 10);
    const res = await fetch(`${sys.urls.status}/v1/costs?repository=${REPO}&since=${today}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.days).toEqual([{ day: today, repository: REPO, usd: 1.2, tokens: 1200, runs: 1, byStage: { planning: { usd: 1.2, tokens: 1200, runs: 1 } } }]);
    const bad = await fetch(`${sys.urls.status}/v1/costs?repository=nope&since=2026-02-30&x=1`);
    expect(bad.status).toBe(400);
    const problems = ((await bad.json()) as any).error.issues.map((i: { path: string }) => i.path).sort();
    expect(problems).toEqual(['repository', 'since', 'x']);
  });

  it('facteur-step exits 3 when the answer says stop, and 0 before', async () => {
    const { step } = await planningStep('budget-stop-2', 0.5);
    const lines: string[] = [];
    const io = { stdin: () => (async function* () {})(), stdout: (t: string) => void lines.push(t), stderr: (t: string) => void lines.push(t) };
    const env = { FACTEUR_CALLBACK_URL: step.params.callbackUrl!, FACTEUR_RUN_TOKEN: step.token, FACTEUR_STEP_STATE_DIR: `/tmp/facteur-budget-step-${step.runId}` };
    expect(await runStep(['started'], env, io)).toBe(0);
    expect(await runStep(['heartbeat', '--cost-usd', '0.3', '--input-tokens', '10'], env, io)).toBe(0);
    expect(await runStep(['heartbeat', '--cost-usd', '0.75', '--quiet'], env, io)).toBe(3);
    expect(lines.at(-1)).toMatch(/^facteur-step: heartbeat #3 recorded; the control plane stopped this run: budget_exceeded: budget exceeded: the idea: cost \$0.75 of \$0.5\n$/);
    const [run] = await sys.db.sql`select status, error_code from codex_kb.task_runs where id = ${step.runId}`;
    expect(run).toEqual({ status: 'cancelled', error_code: 'budget_exceeded' });
    expect(lines.join('')).not.toContain(step.token);

    // `completed` whose usage passes the budget: recorded, cancelled, exit 3
    const { step: last } = await planningStep('budget-stop-5', 0.5);
    const lastEnv = { ...env, FACTEUR_CALLBACK_URL: last.params.callbackUrl!, FACTEUR_RUN_TOKEN: last.token, FACTEUR_STEP_STATE_DIR: `/tmp/facteur-budget-step-${last.runId}` };
    expect(await runStep(['started'], lastEnv, io)).toBe(0);
    expect(await runStep(['completed', 'succeeded', '--cost-usd', '0.9'], lastEnv, io)).toBe(3);
    expect(lines.at(-1)).toMatch(/the control plane stopped this run: budget_exceeded/);
  });

  it('a completed callback whose usage passes the budget is not settled: the run is cancelled, nothing after it starts, the step exits 3', async () => {
    const { ideaId: id, step } = await planningStep('budget-stop-3', 0.5);
    expect((await step.post({ type: 'started' }, { seq: 1 })).status).toBe(202);
    const done = await step.post({ type: 'completed', outcome: 'succeeded', usage: { inputTokens: 50, outputTokens: 10, costUsd: 0.8 } }, { seq: 2 });
    expect(done.status).toBe(202);
    expect(done.body).toMatchObject({ runStatus: 'cancelled', stop: { reason: 'budget_exceeded', scope: 'idea', spent: { costUsd: 0.8 } } });
    const [after] = await sys.db.sql`
      select r.status as run, r.error_code, t.state as task, i.status as idea from codex_kb.task_runs r
        join codex_kb.tasks t on t.id = r.task_id join codex_kb.ideas i on i.id = r.idea_id where r.id = ${step.runId}`;
    expect(after).toEqual({ run: 'cancelled', error_code: 'budget_exceeded', task: 'blocked', idea: 'blocked' });
    const [finding] = await sys.db.sql`select properties from codex_kb.policy_findings where idea_id = ${id} and rule = 'budgets'`;
    expect(finding!.properties).toMatchObject({ at: 'completed' });
    // no plan was accepted from the cancelled run: no implementation task exists, none is dispatched
    await tick(sys);
    const tasks = await sys.db.sql`select stage from codex_kb.tasks where idea_id = ${id}`;
    expect(tasks.map((t) => t.stage)).toEqual(['planning']);

    // within the budget, the same callback settles the run as usual
    const { step: fine } = await planningStep('budget-stop-4', 5);
    expect((await fine.post({ type: 'started' }, { seq: 1 })).status).toBe(202);
    expect((await fine.post({ type: 'artifact', artifact: { kind: 'plan', data: { tasks: [] } } }, { seq: 2 })).status).toBeLessThan(500);
    const ok = await fine.post({ type: 'completed', outcome: 'failed', error: { code: 'x', message: 'y' }, usage: { costUsd: 0.1 } }, { seq: 3 });
    expect(ok.body).not.toHaveProperty('stop');
    expect(ok.body.runStatus).toBe('failed');
  });

  it("a run spending past its estimate is stopped once it eats into what the claim set aside for a sibling still running", async () => {
    // $1: planning reports $0.10, then two independent tasks are claimed ($0.25 set aside each)
    const { ideaId: id, step } = await planningStep('budget-stop-6', 1);
    const watch = new WorkflowWatch(sys, id);
    await watch.next().catch(() => undefined); // the planning step's own Workflow, already seen
    expect((await step.post({ type: 'started' }, { seq: 1 })).status).toBe(202);
    expect((await step.post({ type: 'artifact', artifact: { kind: 'plan', data: planArtifact({ keys: ['a', 'b'], deps: [] }) } }, { seq: 2 })).status).toBe(202);
    expect((await step.post({ type: 'completed', outcome: 'succeeded', usage: { costUsd: 0.1 } }, { seq: 3 })).status).toBe(202);
    await tick(sys);
    const a = await watch.next();
    const b = await watch.next();
    expect([a.stage, b.stage]).toEqual(['implementation', 'implementation']);
    expect((await a.post({ type: 'started' }, { seq: 1 })).status).toBe(202);
    expect((await b.post({ type: 'started' }, { seq: 1 })).status).toBe(202);
    // reported: $0.10 + $0.70 = $0.80, within $1; committed: + b's $0.25 set aside = $1.05, past it
    const beat = await a.post({ type: 'heartbeat', usage: { costUsd: 0.7 } }, { seq: 2 });
    expect(beat.body).toMatchObject({ runStatus: 'cancelled', stop: { reason: 'budget_exceeded', spent: { costUsd: 1.05 } } });
    // b finishes within what was set aside for it: the idea's total stays within one estimate of the budget
    await b.post({ type: 'completed', outcome: 'succeeded', usage: { costUsd: 0.2 } }, { seq: 2 });
    const [total] = await sys.db.sql`select sum(cost_usd)::float as usd from codex_kb.task_runs where idea_id = ${id}`;
    expect(total!.usd).toBeCloseTo(1.0, 6);
  });
});
