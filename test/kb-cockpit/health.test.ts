// KB health, failure clusters and the KB in the cockpit, over real HTTP and PostgreSQL on a
// history written straight into the tables: GET /v1/kb/health equals what the database holds
// (counted here by the test's own arithmetic), /metrics carries the same figures and parses
// with the strict Prometheus parser, the dashboard's KB page and a run's retrieved context
// render (or say "no retrieval"), GET /v1/failures groups runs by facteur-agent's signature per
// repository, a repeated signature raises facteur.alert.repeated_failure, and bad queries or
// missing credentials are 400/401, never 5xx.
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStatusHandler } from '../../functions/status/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { createLocalEmbedder } from '../../shared/kb/embed/local.js';
import { vectorLiteral } from '../../shared/kb/embed/types.js';
import { ensureVersion } from '../../shared/kb/versions.js';
import { silentLogger } from '../../shared/log/index.js';
import { evaluateAlerts } from '../../shared/metrics/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { serve, type Served } from '../helpers/http.js';
import { parsePrometheus, valueOf } from '../metrics/prom-parser.js';
import { seedIdea, seedRun } from '../metrics/seed.js';

const VIEWER = 'kb-viewer-token';
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const config = loadConfig({
  FACTEUR_API_TOKENS: JSON.stringify([{ name: 'viewer', sha256: sha(VIEWER), roles: ['viewer'] }]),
  FACTEUR_ALERT_FAILURE_COUNT: '3', FACTEUR_ALERT_FAILURE_WINDOW_MINUTES: '60',
});
const embedder = createLocalEmbedder();
let db: TestDb;
let status: Served;
let runWithRetrieval: string;
let runWithout: string;
const candidateId = randomUUID();

const get = async (path: string, token: string | null = VIEWER) => {
  const res = await fetch(status.url + path, { headers: token ? { authorization: `Bearer ${token}`, accept: path.startsWith('/ui/') ? 'text/html' : 'application/json' } : {} });
  const text = await res.text();
  return { status: res.status, text, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined };
};

async function reflection(o: { source?: string; repository?: string; superseded?: string; injected?: number; usefulness?: number; embed?: boolean }): Promise<string> {
  const [r] = await db.sql`
    insert into codex_kb.reflections (reflection_type, content, repository, stage, source, superseded_by, injected_count, usefulness)
    values ('lesson', ${'lesson ' + Math.random()}, ${o.repository ?? 'acme/app'}, 'implementation', ${o.source ?? 'facteur'}, ${o.superseded ?? null}, ${o.injected ?? 0}, ${o.usefulness ?? 0})
    returning id`;
  if (o.embed !== false) {
    const [v] = await embedder.embed(['x']);
    await db.sql`insert into codex_kb.reflection_embeddings (reflection_id, version, embedding) values (${r!.id}, ${embedder.version}, ${vectorLiteral(v!)}::vector)`;
  }
  return r!.id as string;
}

beforeAll(async () => {
  db = await createTestDb();
  status = await serve(createStatusHandler({ sql: db.sql, config, log: silentLogger }));
  await ensureVersion(db.sql, embedder);
  const live = await reflection({ injected: 3, usefulness: 0.8 });
  await reflection({ injected: 1, usefulness: -0.7 });
  await reflection({ injected: 2, usefulness: 0.1 });
  await reflection({ source: 'artifact' });
  await reflection({ source: 'artifact', embed: false });
  await reflection({ superseded: live, injected: 5, usefulness: -1 });
  await reflection({ source: 'synthetic', repository: 'facteur-kb/synthetic', injected: 9 });
  const idea = await seedIdea(db.sql, 'acme/app');
  runWithRetrieval = await seedRun(db.sql, idea, 'acme/app', { stage: 'implementation', status: 'succeeded', queuedHoursAgo: 1 });
  runWithout = await seedRun(db.sql, idea, 'acme/app', { stage: 'review', status: 'succeeded', queuedHoursAgo: 1 });
  const latencies = [4, 6, 8, 10, 100];
  for (const [i, ms] of latencies.entries()) {
    const run = i === 0 ? runWithRetrieval : await seedRun(db.sql, idea, 'acme/app', { stage: 'planning', status: 'succeeded', queuedHoursAgo: 2 });
    await db.sql`
      insert into codex_kb.kb_retrievals (run_id, idea_id, task_id, stage, embedding_version, query, candidates, injected, context_bytes, context, latency_ms, degraded)
      values (${run}, ${idea.ideaId}, ${idea.tasks.implementation!}, 'implementation', ${embedder.version}, ${'dark <b>theme</b> {{x}}'},
              ${db.sql.json(i === 0 ? [{ id: candidateId, cosine: 0.91, textRank: 0.2, fused: 0.5, injected: true, reason: 'injected' }, { id: randomUUID(), cosine: 0.3, reason: 'rank' }] : [])},
              ${i < 3 ? [candidateId] : []}::uuid[], ${i < 3 ? 120 : 0}, ${i < 3 ? `use <script>alert(1)</script> tokens${' '.repeat(84)}` : ''}, ${ms}, ${i === 4 ? 'embedder_down' : null})`;
  }
  // an old retrieval: outside the default 24 h window
  const old = await seedRun(db.sql, idea, 'acme/app', { stage: 'planning', status: 'succeeded', queuedHoursAgo: 50 });
  await db.sql`insert into codex_kb.kb_retrievals (run_id, idea_id, task_id, stage, query, latency_ms, created_at)
               values (${old}, ${idea.ideaId}, ${idea.tasks.planning!}, 'planning', 'q', 9999, now() - interval '3 days')`;
  await db.sql`insert into codex_kb.kb_backlog (run_id, last_error) values (${runWithout}, 'embedder down'), (${old}, null)`;
  await db.sql`insert into codex_kb.policy_checks (check_key, result, message) values
    ('kb.anomaly.near_duplicate', 'pass', 'planted near-duplicate detected'), ('kb.anomaly.near_duplicate', 'fail', 'missed'),
    ('kb.anomaly.near_duplicate', 'pass', 'planted near-duplicate detected again'), ('monitoring.baseline', 'warn', 'latency left its baseline')`;
});
afterAll(async () => {
  await status.close();
});

describe('GET /v1/kb/health', () => {
  it('answers the figures the tables hold', async () => {
    const r = await get('/v1/kb/health');
    expect(r.status).toBe(200);
    const h = r.body;
    expect(h.activeVersion).toMatchObject({ version: embedder.version, dimensions: 384 });
    expect(h.reflections).toMatchObject({ total: 7, superseded: 1, live: 6, bySource: { facteur: 4, artifact: 2, synthetic: 1 } });
    expect(h.reflections.byVersion).toEqual([
      { version: embedder.version, source: 'artifact', count: 1 }, { version: embedder.version, source: 'facteur', count: 4 }, { version: embedder.version, source: 'synthetic', count: 1 },
    ]);
    expect(h.backlog).toMatchObject({ unembedded: 1, runs: 2, failing: 1 });
    // five in the window: three injected something; p50 of 4,6,8,10,100 is 8; p99 interpolates toward 100
    expect(h.retrievals).toMatchObject({ count: 5, hits: 3, hitRate: 0.6, degraded: 1 });
    expect(h.retrievals.latencyMs.p50).toBe(8);
    expect(h.retrievals.latencyMs.p99).toBeCloseTo(10 + 0.96 * 90, 3);
    // live, not synthetic: three injected of five
    expect(h.reuse).toEqual({ live: 5, injectedOnce: 3, rate: 0.6 });
    expect(h.usefulness).toEqual({ buckets: [{ label: '[-1,-0.5)', count: 1 }, { label: '[-0.5,0)', count: 0 }, { label: '[0,0.5)', count: 1 }, { label: '[0.5,1]', count: 1 }], neverInjected: 2 });
    expect(h.checks).toEqual([
      expect.objectContaining({ key: 'kb.anomaly.near_duplicate', result: 'pass', inWindow: { pass: 2, fail: 1 } }),
      expect.objectContaining({ key: 'monitoring.baseline', result: 'warn', inWindow: { pass: 0, fail: 1 } }),
    ]);
    expect(h.daily).toHaveLength(14);
    const wide = await get('/v1/kb/health?window=7d');
    expect(wide.body.retrievals.count).toBe(6);
  });

  it('refuses a bad window, unknown parameters and missing credentials', async () => {
    const bad = await get('/v1/kb/health?window=forever&x=%00&window=1d');
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['window', 'x']);
    expect((await get('/v1/kb/health', null)).status).toBe(401);
  });
});

describe('/metrics carries the KB figures', () => {
  it('gauges equal the health answer and the exposition parses strictly', async () => {
    const r = await get('/metrics');
    expect(r.status).toBe(200);
    const p = parsePrometheus(r.text);
    expect(valueOf(p, 'facteur_kb_reflections', { source: 'facteur' })).toBe(4);
    expect(valueOf(p, 'facteur_kb_vectors', { version: embedder.version, source: 'facteur' })).toBe(4);
    expect(valueOf(p, 'facteur_kb_embedding_version_active', { version: embedder.version, state: 'ready' })).toBe(1);
    expect(valueOf(p, 'facteur_kb_embedding_backlog', { kind: 'reflections' })).toBe(1);
    expect(valueOf(p, 'facteur_kb_embedding_backlog', { kind: 'runs' })).toBe(2);
    expect(valueOf(p, 'facteur_kb_retrievals', { outcome: 'hit' })).toBe(3);
    expect(valueOf(p, 'facteur_kb_retrieval_hit_rate')).toBe(0.6);
    expect(valueOf(p, 'facteur_kb_retrieval_latency_ms', { quantile: '0.5' })).toBe(8);
    expect(valueOf(p, 'facteur_kb_reuse_rate')).toBe(0.6);
    expect(valueOf(p, 'facteur_kb_usefulness_lessons', { bucket: 'never' })).toBe(2);
    expect(valueOf(p, 'facteur_kb_anomaly_checks', { check: 'kb.anomaly.near_duplicate', result: 'pass' })).toBe(2);
    expect(valueOf(p, 'facteur_kb_anomaly_detected', { check: 'kb.anomaly.near_duplicate' })).toBe(1);
    expect(valueOf(p, 'facteur_monitoring_baseline_breaches', { check: 'monitoring.baseline' })).toBe(1);
    expect(p.types.get('facteur_kb_retrieval_latency_ms')).toBe('gauge');
  });
});

describe('the KB on the dashboard', () => {
  it('the KB page renders the health figures and is in the nav', async () => {
    const r = await get('/ui/kb');
    expect(r.status).toBe(200);
    expect(r.text).toContain('<h1>Knowledge base</h1>');
    expect(r.text).toContain(embedder.version);
    expect(r.text).toMatch(/hit rate 60\.0%/);
    expect(r.text).toContain('<svg');
    expect(r.text).toContain('href="kb" aria-current="page"');
    expect((await get('/ui/kb?x=1')).status).toBe(400);
  });

  it('a run page shows its retrieved context with the candidates\' scores, escaped; a run without says so', async () => {
    const r = await get(`/ui/run?id=${runWithRetrieval}`);
    expect(r.status).toBe(200);
    expect(r.text).toContain('<h2>Retrieved context</h2>');
    expect(r.text).toMatch(/1 lesson\(s\) injected of 2 candidate\(s\), 120 bytes/);
    expect(r.text).toContain(candidateId);
    expect(r.text).toContain('cosine 0.91');
    expect(r.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(r.text).not.toContain('<script>alert(1)');
    const none = await get(`/ui/run?id=${runWithout}`);
    expect(none.text).toContain('No retrieval');
  });
});

describe('intent discipline on the idea page', () => {
  it('shows the toolchain hypotheses and the open questions under the anchor, escaped', async () => {
    const idea = await seedIdea(db.sql, 'acme/intent');
    await db.sql`update codex_kb.ideas set intent_anchor = 'INTENT x', intent = ${db.sql.json({
      version: 'intent_v1', openQuestions: ['Which <b>palette</b>?'], toolchainHypotheses: [{ toolchain: 'node', root: 'web', confidence: 0.9, evidence: ['package.json'], source: 'detect' }],
    })} where id = ${idea.ideaId}`;
    const r = await get(`/ui/idea?id=${idea.ideaId}`);
    expect(r.status).toBe(200);
    expect(r.text).toContain('<b>Open questions</b><ul><li>Which &lt;b&gt;palette&lt;/b&gt;?</li></ul>');
    expect(r.text).toMatch(/<b>Toolchain hypotheses<\/b><ul><li><code>web<\/code> node <span class="muted">confidence 0.9<\/span>/);
  });
});

describe('GET /v1/failures', () => {
  const SIG = 'error TS2322: Type <str> is not assignable to type <str>';
  it('groups by repository and signature with counts, first/last seen and the latest examples; a repeated signature raises the alert', async () => {
    const a = await seedIdea(db.sql, 'acme/fail');
    const b = await seedIdea(db.sql, 'acme/fail');
    const other = await seedIdea(db.sql, 'acme/elsewhere');
    const ids: string[] = [];
    for (const [n, idea] of [[1, a], [2, b], [3, a], [4, b]] as const) {
      ids.push(await seedRun(db.sql, idea, 'acme/fail', { stage: 'implementation', status: 'failed', queuedHoursAgo: 0.5 - n / 100, durationS: 10, errorCode: 'compile_error', errorMessage: `tsc exited with 2: src/a.ts(${n},1) [signature: ${SIG}]` }));
    }
    await seedRun(db.sql, other, 'acme/elsewhere', { stage: 'implementation', status: 'failed', queuedHoursAgo: 0.5, errorCode: 'compile_error', errorMessage: `x [signature: ${SIG}]` });
    await seedRun(db.sql, a, 'acme/fail', { stage: 'review', status: 'failed', queuedHoursAgo: 0.3, errorCode: 'heartbeat_timeout', errorMessage: 'no heartbeat for 600 s' });
    const r = await get('/v1/failures?repository=acme/fail');
    expect(r.status).toBe(200);
    expect(r.body.items).toHaveLength(2);
    const [top, second] = r.body.items;
    expect(top).toMatchObject({ repository: 'acme/fail', code: 'compile_error', signature: SIG, count: 4, ideas: 2, stages: ['implementation'] });
    expect(top.examples.map((e: { runId: string }) => e.runId)).toEqual([...ids].reverse());
    expect(Date.parse(top.firstSeen)).toBeLessThan(Date.parse(top.lastSeen));
    expect(second).toMatchObject({ code: 'heartbeat_timeout', signature: null, message: 'no heartbeat for 600 s', count: 1 });
    const all = await get('/v1/failures');
    expect(all.body.items.filter((g: { signature: string }) => g.signature === SIG).map((g: { repository: string }) => g.repository).sort()).toEqual(['acme/elsewhere', 'acme/fail']);
    // the same grouping raises the alert: four of the same signature in acme/fail, one elsewhere
    await evaluateAlerts(db.sql, config);
    const events = await db.sql<{ data: any }[]>`select data from codex_kb.outbox where type = 'facteur.alert.repeated_failure'`;
    expect(events.map((e) => e.data.repository)).toEqual(['acme/fail']);
    expect(events[0]!.data.details).toMatchObject({ signature: SIG, count: 4 });
    const page = await get('/ui/failures');
    expect(page.text).toContain(SIG.replace(/</g, '&lt;').replace(/>/g, '&gt;'));
  });

  it('refuses a bad repository, days and unknown parameters with every problem', async () => {
    const r = await get("/v1/failures?repository=';drop%20table&days=0&limit=x&q={{x}}");
    expect(r.status).toBe(400);
    expect(r.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['days', 'limit', 'q', 'repository']);
    expect((await get('/v1/failures', null)).status).toBe(401);
  });
});
