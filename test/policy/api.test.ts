// The policy API end to end over real HTTP and PostgreSQL (status function; the policy
// function serves the same table): packs refused with every problem and its line and nothing
// stored, stored, a rewritten version refused, activated; a repository's selection and its
// effective policy; findings newest evaluation first with their summary.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { createPolicyHandler } from '../../functions/policy/index.js';
import { createStatusHandler } from '../../functions/status/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { judge, recordFindings, type Verdict } from '../../shared/policy/findings.js';
import { loadPolicyPacks } from '../../shared/policy/store.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { ideaSpec, postEvent, readAnswer, serve, type Served } from '../helpers/http.js';

let db: TestDb;
let status: Served;
let policy: Served;
let intake: Served;
const config = loadConfig({ FACTEUR_STATUS_TOKEN: 'api-token' });
const auth = { authorization: 'Bearer api-token' };

const call = async (method: string, path: string, body?: string, type = 'application/json', base = () => status.url) =>
  readAnswer(await fetch(base() + path, { method, headers: { ...auth, ...(body !== undefined ? { 'content-type': type } : {}) }, ...(body !== undefined ? { body } : {}) }));

const PACK = (version: number, maxLines = 400) => `schemaVersion: 1
key: payments
version: ${version}
description: payments team
rules:
  churn: { mode: enforce, maxLinesPerTask: ${maxLines} }
  pathScope: { mode: evaluate }
`;

beforeAll(async () => {
  db = await createTestDb();
  await loadPolicyPacks(db.sql, undefined);
  status = await serve(createStatusHandler({ sql: db.sql, config, log: silentLogger }));
  policy = await serve(createPolicyHandler({ sql: db.sql, config, log: silentLogger }));
  intake = await serve(createIntakeHandler({ sql: db.sql, config: loadConfig({}), log: silentLogger }));
});
afterAll(async () => {
  await Promise.all([status.close(), policy.close(), intake.close()]);
});

const stored = async () => (await db.sql`select key, version from codex_kb.policy_packs order by key, version`).map((r) => `${r.key}@${r.version}`);

describe('policy packs', () => {
  it('refuses an invalid pack with every problem and its line, storing nothing', async () => {
    const before = await stored();
    const bad = 'schemaVersion: 1\nkey: payments\nversion: 1\nrules:\n  churn: { mode: block }\n  lunch: { mode: warn }\n  pathScope: { allow: ["a/[b"] }\n';
    const r = await call('POST', '/v1/policy-packs', bad, 'application/yaml');
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_policy_pack');
    const messages = r.body.error.issues.map((i: { path: string; message: string }) => `${i.path}: ${i.message}`);
    expect(messages).toEqual(expect.arrayContaining([expect.stringMatching(/^rules\.churn\.mode: .*\(line 5, column \d+\)$/), expect.stringMatching(/lunch.*\(line 6, column \d+\)$/), expect.stringMatching(/^rules\.pathScope\.allow\.0: .*\(line 7, column \d+\)$/)]));
    const syntax = await call('POST', '/v1/policy-packs', 'key: [unclosed\n', 'text/yaml');
    expect(syntax.status).toBe(400);
    expect(syntax.body.error.issues[0].message).toMatch(/line \d+, column \d+/);
    const big = await call('POST', '/v1/policy-packs', `schemaVersion: 1\ndescription: "${'x'.repeat(10 * 1024 * 1024)}"\n`, 'application/yaml');
    expect(big.status).toBe(400);
    expect(big.body.error.issues[0].message).toMatch(/larger than 262144 bytes/);
    // YAML escapes that make text PostgreSQL refuses: a 400, never a 500
    const nul = await call('POST', '/v1/policy-packs', 'schemaVersion: 1\nkey: nul\nversion: 1\nrules:\n  highRisk: { labels: ["a\\0b", "\\ud800"] }\n', 'application/yaml');
    expect(nul.status).toBe(400);
    expect((await call('POST', '/v1/policy-packs', 'x', 'text/html')).status).toBe(415);
    expect((await call('POST', '/v1/policy-packs', '{"source": 1}')).status).toBe(400);
    expect(await stored()).toEqual(before);
  });

  it('stores (201), finds the same again (200), refuses a rewritten version (409), takes JSON {source}', async () => {
    const first = await call('POST', '/v1/policy-packs', PACK(1), 'application/yaml; charset=utf-8');
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ key: 'payments', version: 1, status: 'draft', origin: 'api', createdBy: 'token:status', created: true, document: { rules: { churn: { maxLinesPerTask: 400 } } } });
    expect((await call('POST', '/v1/policy-packs', PACK(1), 'text/yaml')).status).toBe(200);
    const rewritten = await call('POST', '/v1/policy-packs', PACK(1, 10), 'application/yaml');
    expect(rewritten.status).toBe(409);
    expect(rewritten.body.error.message).toMatch(/version 2/);
    expect((await call('POST', '/v1/policy-packs', JSON.stringify({ source: PACK(2, 300) }))).status).toBe(201);
    const list = await call('GET', '/v1/policy-packs');
    expect(list.body.items.map((p: { key: string; version: number }) => `${p.key}@${p.version}`)).toEqual(['default@1', 'payments@2', 'payments@1']);
    const versions = await call('GET', '/v1/policy-packs/payments');
    expect(versions.body.versions.map((v: { version: number; source: string }) => [v.version, v.source])).toEqual([[2, PACK(2, 300)], [1, PACK(1)]]);
    expect(versions.body.versions[0].document.rules.churn.maxLinesPerTask).toBe(300);
  });

  it('activates a version, retiring the one before; paths are validated', async () => {
    expect((await call('POST', '/v1/policy-packs/payments/1/activate')).body).toMatchObject({ version: 1, status: 'active' });
    expect((await call('POST', '/v1/policy-packs/payments/2/activate', undefined, undefined, () => policy.url)).body).toMatchObject({ version: 2, status: 'active' });
    const versions = await call('GET', '/v1/policy-packs/payments');
    expect(versions.body.versions.map((v: { status: string }) => v.status)).toEqual(['active', 'retired']);
    expect((await call('POST', '/v1/policy-packs/payments/9/activate')).status).toBe(404);
    expect((await call('POST', '/v1/policy-packs/payments/0/activate')).body.error.issues).toEqual([expect.objectContaining({ path: 'path.version' })]);
    expect((await call('GET', '/v1/policy-packs/Bad_Key')).body.error.issues).toEqual([expect.objectContaining({ path: 'path.key' })]);
    expect((await call('GET', '/v1/policy-packs/%ZZ')).status).toBe(400);
    expect((await call('GET', '/v1/policy-packs/nothing')).status).toBe(404);
  });
});

describe('repository policy', () => {
  it('PUT, GET and the effective policy with its chain', async () => {
    expect((await call('GET', '/v1/repositories/acme/web/policy')).body).toMatchObject({ repository: 'acme/web', pack: { key: 'default', version: null }, overrides: {}, repoLocal: false });
    const put = await call('PUT', '/v1/repositories/Acme/Web/policy', JSON.stringify({ pack: { key: 'payments', version: null }, overrides: { rules: { churn: { maxLinesPerTask: 100 } } }, repoLocal: true }));
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ repository: 'acme/web', pack: { key: 'payments', version: null }, repoLocal: true, updatedBy: 'token:status' });
    expect((await call('GET', '/v1/repositories/acme/web/policy')).body).toEqual(put.body);
    const eff = await call('GET', '/v1/repositories/acme/web/policy/effective');
    expect(eff.status).toBe(200);
    expect(eff.body.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(eff.body.document.rules.churn.maxLinesPerTask).toBe(100);
    expect(eff.body.chain.map((c: { source: string; ref: string }) => `${c.source}:${c.ref}`)).toEqual(['pack:payments@2', 'repository:acme/web']);
    const [kept] = await db.sql`select hash from codex_kb.effective_policies where hash = ${eff.body.hash}`;
    expect(kept).toBeDefined();
  });

  it('400 for an unknown pack, overrides that are not a pack, a bad body or a bad repository', async () => {
    const unknown = await call('PUT', '/v1/repositories/acme/web/policy', JSON.stringify({ pack: { key: 'nope', version: null } }));
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.issues).toEqual([expect.objectContaining({ path: 'pack' })]);
    const overrides = await call('PUT', '/v1/repositories/acme/web/policy', JSON.stringify({ pack: { key: 'payments', version: 2 }, overrides: { rules: { churn: { mode: 'loud' } }, colour: 1 } }));
    expect(overrides.status).toBe(400);
    expect(overrides.body.error.issues.map((i: { path: string }) => i.path)).toEqual(expect.arrayContaining([expect.stringMatching(/^overrides/)]));
    const body = await call('PUT', '/v1/repositories/acme/web/policy', JSON.stringify({ pack: { version: 'x' }, extra: 1 }));
    expect(body.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['(root)', 'pack.key', 'pack.version']);
    expect((await call('GET', '/v1/repositories/acme/../policy')).status).toBeLessThan(500);
    expect((await call('GET', '/v1/repositories/acme/a%20b/policy')).body.error.issues).toEqual([expect.objectContaining({ path: 'path.repository' })]);
    expect((await call('GET', '/v1/repositories/acme/%E0%A4%A/policy/effective')).status).toBe(400);
    // nothing changed by any of them
    expect((await call('GET', '/v1/repositories/acme/web/policy')).body).toMatchObject({ pack: { key: 'payments', version: null } });
  });
});

describe('findings', () => {
  it('newest evaluation first, evaluate-mode ones only with ?all=true, the summary counting what enforcing would block', async () => {
    const r = await postEvent(intake.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'findings-1' })) });
    const ideaId = r.body.ideaId as string;
    const [task] = await db.sql`select id from codex_kb.tasks where idea_id = ${ideaId}`;
    const [run] = await db.sql`insert into codex_kb.task_runs (task_id, idea_id, attempt, status, stage, repository) values (${task!.id}, ${ideaId}, 1, 'succeeded', 'planning', 'acme/web') returning id`;
    const pack = { policy: 'payments@2', strict: false };
    const v = (rule: Verdict['rule'], outcome: Verdict['outcome']): Verdict => ({ rule, outcome, message: `${rule} ${outcome}` });
    const first = [
      judge(v('churn', 'pass'), { mode: 'enforce', severity: 'high' }, pack, { ideaId, checkpoint: 'plan' })!,
      judge(v('pathScope', 'fail'), { mode: 'evaluate', severity: 'low' }, pack, { ideaId, taskId: task!.id, checkpoint: 'plan' })!,
    ];
    const second = [
      judge(v('churn', 'fail'), { mode: 'warn', severity: 'high' }, pack, { ideaId, taskId: task!.id, runId: run!.id, checkpoint: 'post-implementation' })!,
      judge(v('highRisk', 'fail'), { mode: 'enforce', severity: 'critical' }, pack, { ideaId, taskId: task!.id, runId: run!.id, checkpoint: 'post-implementation' })!,
    ];
    const e1 = await recordFindings(db.sql, first, 'h1');
    const e2 = await recordFindings(db.sql, second, 'h2');
    const idea = await call('GET', `/v1/ideas/${ideaId}/findings`);
    expect(idea.status).toBe(200);
    expect(idea.body.items.map((f: { evaluationId: string; rule: string; result: string }) => `${f.evaluationId === e2 ? 2 : f.evaluationId === e1 ? 1 : '?'} ${f.rule} ${f.result}`)).toEqual(['2 churn warn', '2 highRisk fail', '1 churn pass']);
    expect(idea.body.summary).toEqual({ pass: 1, fail: 2, warn: 1, error: 0, skip: 0, wouldHaveBlocked: 2, enforced: 1 });
    expect(idea.body.items[0]).toMatchObject({ policy: 'payments@2', severity: 'high', mode: 'warn', wouldBlock: true, scope: { ideaId, taskId: task!.id, runId: run!.id, checkpoint: 'post-implementation' }, effectivePolicyHash: 'h2' });
    const all = await call('GET', `/v1/ideas/${ideaId}/findings?all=true`);
    expect(all.body.items.map((f: { rule: string }) => f.rule)).toEqual(['churn', 'highRisk', 'churn', 'pathScope']);
    expect((await call('GET', `/v1/tasks/${task!.id}/findings?all=true`)).body.items).toHaveLength(3);
    const byRun = await call('GET', `/v1/runs/${run!.id}/findings`, undefined, undefined, () => policy.url);
    expect(byRun.body.items.map((f: { rule: string }) => f.rule)).toEqual(['churn', 'highRisk']);
    expect(byRun.body.summary).toMatchObject({ fail: 1, warn: 1, wouldHaveBlocked: 1, enforced: 1 });
    expect((await call('GET', `/v1/ideas/${ideaId}/findings?limit=1`)).body).toMatchObject({ total: 4, truncated: true, items: [expect.objectContaining({ rule: 'churn' })] });
    expect((await call('GET', `/v1/ideas/${ideaId}/findings?all=yes&colour=red`)).body.error.issues.map((i: { path: string }) => i.path)).toEqual(['all', 'colour']);
    expect((await call('GET', '/v1/runs/00000000-0000-0000-0000-000000000000/findings')).status).toBe(404);
    expect((await call('GET', '/v1/tasks/not-a-uuid/findings')).status).toBe(404);
  });
});
