// The policy function over real HTTP with the pack engine: the effective policy of a
// repository (hash and chain), an evaluation recorded as a new set of findings each time
// (history appended, never overwritten), every problem of a bad request listed; and the
// retired environment variables, which stop the start with what replaced them.
import { beforeAll, describe, expect, it } from 'vitest';
import { createPolicyHandler } from '../../functions/policy/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { ValidationError } from '../../shared/errors/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { serve } from '../helpers/http.js';
import { insertIdea, unique, usePack } from './fixtures.js';

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});

describe('the policy function', () => {
  it('answers the effective policy, evaluates with the packs engine, appends each evaluation, behind the token', async () => {
    const config = loadConfig({ FACTEUR_STATUS_TOKEN: 'p' });
    const srv = await serve(createPolicyHandler({ sql: db.sql, config, log: silentLogger }));
    try {
      const repo = `acme/${unique('f')}`;
      const key = await usePack(db.sql, repo, '  autonomy: { mode: enforce }\n  highRisk: { mode: warn, labels: [security] }\n');
      const ideaId = await insertIdea(db.sql, { repository: repo, level: 'L2', labels: ['security'] });
      const h = { authorization: 'Bearer p' };
      expect((await fetch(`${srv.url}/v1/policy?repository=${repo}`)).status).toBe(401);
      const pol = (await (await fetch(`${srv.url}/v1/policy?repository=${repo}`, { headers: h })).json()) as any;
      expect(pol).toMatchObject({ repository: repo, policy: { key, rules: { autonomy: { mode: 'enforce' } } }, effectivePolicyHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(pol.chain.map((l: any) => `${l.source}:${l.ref}`)).toEqual([`pack:${key}@1`]);
      const noRepo = await fetch(`${srv.url}/v1/policy`, { headers: h });
      expect(noRepo.status).toBe(400);

      const evaluate = () => fetch(`${srv.url}/v1/evaluate`, { method: 'POST', headers: h, body: JSON.stringify({ ideaId, checkpoint: 'pre-deploy' }) });
      const first = (await (await evaluate()).json()) as any;
      expect(first).toMatchObject({ checkpoint: 'pre-deploy', decision: 'approval', effectivePolicyHash: pol.effectivePolicyHash, summary: { fail: 1, warn: 1, enforced: 1, wouldHaveBlocked: 1 } });
      expect(first.reason).toMatch(/autonomy level L2 does not allow the deploy/);
      const second = (await (await evaluate()).json()) as any;
      expect(second.evaluationId).not.toBe(first.evaluationId);
      const checks = (await (await fetch(`${srv.url}/v1/ideas/${ideaId}/checks`, { headers: h })).json()) as any;
      const sets = new Map<string, string[]>();
      for (const c of checks.items) sets.set(c.evaluationId, [...(sets.get(c.evaluationId) ?? []), `${c.rule}:${c.result}`]);
      expect([...sets.values()]).toEqual([['autonomy:fail', 'highRisk:warn'], ['autonomy:fail', 'highRisk:warn']]);
      const [idea] = await db.sql`select effective_policy_hash from codex_kb.ideas where id = ${ideaId}`;
      expect(idea!.effective_policy_hash).toBe(pol.effectivePolicyHash);

      const bad = await fetch(`${srv.url}/v1/evaluate`, { method: 'POST', headers: h, body: JSON.stringify({ ideaId: 'x', checkpoint: 'lunch' }) });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as any).error.issues.map((i: any) => i.path).sort()).toEqual(['checkpoint', 'ideaId']);
      const missing = await fetch(`${srv.url}/v1/evaluate`, { method: 'POST', headers: h, body: JSON.stringify({ ideaId: '00000000-0000-4000-8000-000000000000', checkpoint: 'plan' }) });
      expect(missing.status).toBe(404);
    } finally {
      await srv.close();
    }
  });
});

describe('retired settings', () => {
  it.each(['FACTEUR_POLICY_ENFORCE', 'FACTEUR_POLICY_HIGH_RISK_LABELS'])('%s set stops the start, saying a policy pack replaces it', (name) => {
    let err: unknown;
    try {
      loadConfig({ [name]: 'true' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toMatch(new RegExp(`^invalid configuration: ${name}: is no longer read: a policy pack replaces it`));
    expect((err as ValidationError).message).not.toContain('\n');
    expect(loadConfig({}).unknownKeys).toEqual([]);
  });
});
