// Policy at checkpoints: the rules table-driven, warnings unless enforced, enforced
// failures that gate integration and deploy on a human approval, and the policy function.
import { beforeAll, describe, expect, it } from 'vitest';
import { createPolicyHandler } from '../../functions/policy/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { effectivePolicy, evaluatePolicy, type Checkpoint } from '../../shared/policy/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { serve } from '../helpers/http.js';
import { plan, STAGE_RESULT, startSystem, submitIdea, tick, WorkflowWatch } from '../helpers/system.js';

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});

let n = 0;
async function idea(o: { autonomy?: string; labels?: string[]; budget?: Record<string, number>; spent?: number; tokens?: number } = {}) {
  n++;
  const [i] = await db.sql`
    insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, autonomy_level, labels, budget)
    values ('api', ${'p-' + n}, 't', 'acme/p', '{}', ${o.autonomy ?? 'L1'}, ${o.labels ?? []}::text[], ${db.sql.json(o.budget ?? {})}) returning id`;
  if (o.spent !== undefined || o.tokens !== undefined) {
    const [t] = await db.sql`insert into codex_kb.tasks (idea_id, key, stage, state, title, repository) values (${i!.id}, 'x', 'planning', 'succeeded', 'x', 'acme/p') returning id`;
    await db.sql`insert into codex_kb.task_runs (task_id, idea_id, attempt, status, cost_usd, usage) values (${t!.id}, ${i!.id}, 1, 'succeeded', ${o.spent ?? 0}, ${db.sql.json({ inputTokens: o.tokens ?? 0 })})`;
  }
  return i!.id as string;
}

const warn = loadConfig({});
const enforce = loadConfig({ FACTEUR_POLICY_ENFORCE: 'true' });

describe('autonomy levels', () => {
  const table: [string, Checkpoint, 'pass' | 'blocked'][] = [
    ['L0', 'plan', 'pass'], ['L0', 'pre-merge', 'blocked'], ['L0', 'pre-deploy', 'blocked'],
    ['L1', 'plan', 'pass'], ['L1', 'pre-merge', 'blocked'], ['L1', 'pre-deploy', 'blocked'],
    ['L2', 'plan', 'pass'], ['L2', 'pre-merge', 'pass'], ['L2', 'pre-deploy', 'blocked'],
    ['L3', 'plan', 'pass'], ['L3', 'pre-merge', 'pass'], ['L3', 'pre-deploy', 'pass'],
  ];
  it.each(table)('%s at %s: %s', async (level, checkpoint, want) => {
    const id = await idea({ autonomy: level });
    const w = await evaluatePolicy(db.sql, warn, id, checkpoint);
    const e = await evaluatePolicy(db.sql, enforce, id, checkpoint);
    const autonomyOf = (ev: typeof w) => ev.findings.find((f) => f.policyKey === 'autonomy')!;
    if (want === 'pass') {
      expect(autonomyOf(w).status).toBe('pass');
      expect(e.approvalRequired).toBe(false);
    } else {
      expect(autonomyOf(w)).toMatchObject({ status: 'warn', enforced: false });
      expect(w.approvalRequired).toBe(false);
      expect(autonomyOf(e)).toMatchObject({ status: 'fail', enforced: true });
      expect(e.approvalRequired).toBe(true);
    }
  });
});

describe('budgets and labels', () => {
  it.each([
    [{ maxCostUsd: 10 }, 5, 'pass'],
    [{ maxCostUsd: 10 }, 8.5, 'warn'],
    [{ maxCostUsd: 10 }, 11, 'fail'],
  ] as const)('cost budget %j with $%s spent → %s', async (budget, spent, want) => {
    const id = await idea({ autonomy: 'L3', budget, spent });
    const e = await evaluatePolicy(db.sql, enforce, id, 'pre-merge');
    expect(e.findings.find((f) => f.policyKey === 'budget.cost')!.status).toBe(want);
    expect(e.approvalRequired).toBe(want === 'fail');
  });

  it('token budget counts input and output tokens of every run', async () => {
    const id = await idea({ autonomy: 'L3', budget: { maxTokens: 1000 }, tokens: 1500 });
    const e = await evaluatePolicy(db.sql, enforce, id, 'pre-deploy');
    expect(e.findings.find((f) => f.policyKey === 'budget.tokens')).toMatchObject({ status: 'fail', message: 'used 1500 of 1000 tokens' });
  });

  it('high-risk labels need a human before merge and deploy', async () => {
    const id = await idea({ autonomy: 'L3', labels: ['UI', 'Security'] });
    const e = await evaluatePolicy(db.sql, enforce, id, 'pre-merge');
    expect(e.findings.find((f) => f.policyKey === 'high-risk-labels')).toMatchObject({ status: 'fail', message: 'high-risk label(s) security need a human before pre-merge' });
    expect((await evaluatePolicy(db.sql, enforce, id, 'plan')).approvalRequired).toBe(false);
  });

  it('records every finding with the effective policy hash, and audits the evaluation', async () => {
    const id = await idea({ autonomy: 'L1' });
    const e = await evaluatePolicy(db.sql, warn, id, 'pre-deploy');
    expect(e.effectivePolicyHash).toBe(effectivePolicy(warn).hash);
    expect(effectivePolicy(enforce).hash).not.toBe(e.effectivePolicyHash);
    const rows = await db.sql`select rule as policy_key, result as status, effective_policy_hash from codex_kb.policy_findings where idea_id = ${id}`;
    expect(rows.map((r) => r.policy_key).sort()).toEqual(['autonomy', 'high-risk-labels']);
    expect(rows.every((r) => r.effective_policy_hash === e.effectivePolicyHash)).toBe(true);
    const [a] = await db.sql`select actor, action, details from codex_kb.audit_log where idea_id = ${id}`;
    expect(a).toMatchObject({ actor: 'policy', action: 'policy.evaluated', details: { checkpoint: 'pre-deploy', approvalRequired: false } });
  });
});

describe('the policy function', () => {
  it('evaluates, lists checks and shows the effective policy over HTTP, behind the token', async () => {
    const srv = await serve(createPolicyHandler({ sql: db.sql, config: { ...enforce, statusToken: loadConfig({ FACTEUR_STATUS_TOKEN: 'p' }).statusToken }, log: silentLogger }));
    try {
      const id = await idea({ autonomy: 'L2' });
      const h = { authorization: 'Bearer p' };
      expect((await fetch(`${srv.url}/v1/policy`)).status).toBe(401);
      const pol = (await (await fetch(`${srv.url}/v1/policy`, { headers: h })).json()) as any;
      expect(pol).toMatchObject({ policy: { enforce: true }, effectivePolicyHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      const r = await fetch(`${srv.url}/v1/evaluate`, { method: 'POST', headers: h, body: JSON.stringify({ ideaId: id, checkpoint: 'pre-deploy' }) });
      expect(r.status).toBe(200);
      expect(((await r.json()) as any).approvalRequired).toBe(true);
      const bad = await fetch(`${srv.url}/v1/evaluate`, { method: 'POST', headers: h, body: JSON.stringify({ ideaId: 'x', checkpoint: 'lunch' }) });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as any).error.issues.map((i: any) => i.path).sort()).toEqual(['checkpoint', 'ideaId']);
      const checks = (await (await fetch(`${srv.url}/v1/ideas/${id}/checks`, { headers: h })).json()) as any;
      expect(checks.items.map((c: any) => `${c.checkpoint}:${c.policyKey}:${c.status}`).sort()).toEqual(['pre-deploy:autonomy:fail', 'pre-deploy:high-risk-labels:pass']);
    } finally {
      await srv.close();
    }
  });
});

describe('enforced policy in an idea\'s life', () => {
  it('L1 under enforcement: integration and deploy each wait for a human approval, then the idea completes', async () => {
    const sys = await startSystem({ FACTEUR_POLICY_ENFORCE: 'true' });
    try {
      const { ideaId } = await submitIdea(sys, { id: 'gated', autonomyLevel: 'L1' });
      await tick(sys);
      const watch = new WorkflowWatch(sys, ideaId);
      await (await watch.next()).run([{ kind: 'plan', data: plan(['only']) }]);
      await (await watch.next()).run(STAGE_RESULT.implementation!);
      await (await watch.next()).run(STAGE_RESULT.review!);
      for (const stage of ['integration', 'deploy']) {
        await tick(sys);
        expect(await watch.pending()).toEqual([]); // nothing starts without the human
        const detail = (await (await fetch(`${sys.urls.status}/v1/ideas/${ideaId}`)).json()) as any;
        const waiting = detail.approvals.find((a: any) => a.status === 'pending');
        expect(waiting).toMatchObject({ checkpoint: stage === 'integration' ? 'pre-merge' : 'pre-deploy', requestedBy: 'policy' });
        expect(waiting.reason).toMatch(/autonomy level L1 does not allow/);
        expect(detail.findings.some((f: any) => f.status === 'fail' && f.enforced)).toBe(true);
        const ok = await fetch(`${sys.urls.status}/v1/approvals/${waiting.id}/approve`, { method: 'POST', headers: { 'x-facteur-actor': 'lead' } });
        expect(ok.status).toBe(200);
        await tick(sys);
        const step = await watch.next();
        expect(step.stage).toBe(stage);
        await step.run(STAGE_RESULT[stage]!);
      }
      const [idea] = await sys.db.sql`select status from codex_kb.ideas where id = ${ideaId}`;
      expect(idea!.status).toBe('completed');
    } finally {
      await sys.close();
    }
  });
});

