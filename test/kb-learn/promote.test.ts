// The promotion gate on real PostgreSQL and over real HTTP: an embedding version that
// measures worse on the labeled set is refused and changes nothing (active version, vectors,
// kb_active untouched) while its decision is recorded in kb_promotions, policy_checks and the
// audit log; one at delta >= 0 becomes the active one in one commit; prompts and models are
// judged on the faithfulness score given with the request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStatusHandler } from '../../functions/status/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { createLocalEmbedder } from '../../shared/kb/embed/local.js';
import { promote } from '../../shared/kb/promote.js';
import { embedderResolver, runReembed } from '../../shared/kb/reembed.js';
import { activeVersion, ensureVersion } from '../../shared/kb/versions.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { serve, type Served } from '../helpers/http.js';
import { seedReflections } from './seed.js';

let db: TestDb;
let status: Served;
const base = createLocalEmbedder();
const gate = () => ({ sql: db.sql, k: 5, embedderFor: embedderResolver() });
const snapshot = async () => ({
  versions: await db.sql`select version, state, active, promoted_at from codex_kb.embedding_versions order by version`,
  active: await db.sql`select kind, name, promoted_at from codex_kb.kb_active order by kind`,
  vectors: await db.sql`select version, count(*)::int as n from codex_kb.reflection_embeddings group by version order by version`,
});

beforeAll(async () => {
  db = await createTestDb();
  status = await serve(createStatusHandler({ sql: db.sql, config: loadConfig({}), log: silentLogger }));
  await ensureVersion(db.sql, base);
  await seedReflections(db.sql, base, 200);
});
afterAll(async () => {
  await status?.close();
});

describe('promotion gate', () => {
  it('refuses an embedding version at delta < 0 and changes nothing but the record', async () => {
    await runReembed({ sql: db.sql, log: silentLogger, embedder: createLocalEmbedder(16), batch: 100 });
    const before = await snapshot();
    const d = await promote(gate(), { kind: 'embedding', candidate: 'local-hash-16-v1', requestedBy: 'test:admin' });
    expect(d.decision).toBe('refused');
    expect(d.delta).toBeLessThan(0);
    expect(d.baseline).toBe(base.version);
    expect(await snapshot()).toEqual(before);
    expect((await activeVersion(db.sql))?.version).toBe(base.version);
    const [rec] = await db.sql<{ decision: string; delta: number; metrics: any }[]>`select decision, delta, metrics from codex_kb.kb_promotions where id = ${d.id}`;
    expect(rec).toMatchObject({ decision: 'refused' });
    expect(rec!.metrics.recall).toBeLessThan(rec!.metrics.baselineRecall);
    const [check] = await db.sql<{ result: string; details: any }[]>`select result, details from codex_kb.policy_checks where check_key = 'kb.promotion' order by id desc limit 1`;
    expect(check).toMatchObject({ result: 'fail', details: { promotionId: d.id, candidate: 'local-hash-16-v1' } });
    const [audit] = await db.sql<{ actor: string; action: string; subject_id: string }[]>`select actor, action, subject_id from codex_kb.audit_log order by id desc limit 1`;
    expect(audit).toEqual({ actor: 'test:admin', action: 'kb.promotion.refused', subject_id: 'local-hash-16-v1' });
  });

  it('promotes an embedding version at delta >= 0, switching the active version in one commit', async () => {
    await runReembed({ sql: db.sql, log: silentLogger, embedder: createLocalEmbedder(768), batch: 100 });
    const d = await promote(gate(), { kind: 'embedding', candidate: 'local-hash-768-v1', requestedBy: 'test:admin' });
    expect(d.delta).toBeGreaterThanOrEqual(0);
    expect(d.decision).toBe('promoted');
    expect((await activeVersion(db.sql))?.version).toBe('local-hash-768-v1');
    const actives = await db.sql`select version from codex_kb.embedding_versions where active`;
    expect(actives).toHaveLength(1);
    // the old version stays ready (its vectors kept: a way back), and promoting it again is judged the same way
    const [old] = await db.sql<{ state: string }[]>`select state from codex_kb.embedding_versions where version = ${base.version}`;
    expect(old!.state).toBe('ready');
  });

  it('judges prompts and models on the faithfulness given, over the admin API', async () => {
    const post = async (body: unknown) => {
      const r = await fetch(`${status.url}/v1/kb/promotions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, body: await r.json() };
    };
    const first = await post({ kind: 'prompt', candidate: 'prompt-v2', faithfulness: 0.8 });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ decision: 'promoted', baseline: null, delta: 0.8 });
    const before = await snapshot();
    // worse than what prompt-v2 scored when promoted: refused, prompt-v2 stays
    const worse = await post({ kind: 'prompt', candidate: 'prompt-v3', faithfulness: 0.75 });
    expect(worse.body).toMatchObject({ decision: 'refused', baseline: 'prompt-v2', delta: -0.05 });
    expect(await snapshot()).toEqual(before);
    // faithfulness holds but recall drops: the smallest delta decides
    const mixed = await post({ kind: 'prompt', candidate: 'prompt-v4', faithfulness: 0.9, recall: 0.6, baselineRecall: 0.7 });
    expect(mixed.body).toMatchObject({ decision: 'refused', delta: -0.1 });
    const ok = await post({ kind: 'model', candidate: 'gpt-x', faithfulness: 0.7 });
    expect(ok.body.decision).toBe('promoted');
    expect(await db.sql`select kind, name from codex_kb.kb_active order by kind`).toEqual([{ kind: 'model', name: 'gpt-x' }, { kind: 'prompt', name: 'prompt-v2' }]);
    const bad = await post({ kind: 'prompt; drop table', candidate: '{{x}}\u0007', faithfulness: 7, extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['(root)', 'candidate', 'faithfulness', 'kind']);
    const nul = await post({ kind: 'prompt', candidate: 'a\u0000b', faithfulness: 0.9 });
    expect(nul.status).toBe(400);
    const none = await post({ kind: 'model', candidate: 'gpt-y' });
    expect(none.status).toBe(400);
    const already = await post({ kind: 'model', candidate: 'gpt-x', faithfulness: 0.9 });
    expect(already.status).toBe(409);
  });
});
