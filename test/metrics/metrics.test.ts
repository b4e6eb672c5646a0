// GET /metrics and /v1/metrics over real HTTP on a seeded history: the exposition parses
// with a strict Prometheus parser, and every figure equals what the database holds (counted
// here with queries of the test's own); hostile label values round-trip; the window bounds
// what is counted; roles and hostile query strings are answered 401/403/400.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStatusHandler } from '../../functions/status/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { serve, type Served } from '../helpers/http.js';
import { parsePrometheus, valueOf, type Parsed } from './prom-parser.js';
import { seedIdea, seedRun, type RunSeed } from './seed.js';

const VIEWER = 'metrics-viewer-token';
const NOBODY = 'metrics-no-role-token';
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const config = loadConfig({
  FACTEUR_API_TOKENS: JSON.stringify([{ name: 'scraper', sha256: sha(VIEWER), roles: ['viewer'] }, { name: 'nobody', sha256: sha(NOBODY), roles: [] }]),
});
const HOSTILE_REPO = 'evil"org\\x/na\nme {le="1"} # HELP';
const HOSTILE_RULE = 'rule"with\\back\nslash';

let db: TestDb;
let status: Served;

async function scrape(path = '/metrics', token = VIEWER): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(status.url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

beforeAll(async () => {
  db = await createTestDb();
  status = await serve(createStatusHandler({ sql: db.sql, config, log: silentLogger }));
  const a = await seedIdea(db.sql, 'acme/app');
  const b = await seedIdea(db.sql, 'acme/lib');
  const runs: [typeof a, string, RunSeed][] = [
    [a, 'acme/app', { stage: 'planning', status: 'succeeded', queuedHoursAgo: 10, latencyS: 4, durationS: 50, costUsd: 0.5, tokens: 1000 }],
    [a, 'acme/app', { stage: 'implementation', status: 'failed', queuedHoursAgo: 8, latencyS: 20, durationS: 400, costUsd: 1.25, tokens: 5000 }],
    [a, 'acme/app', { stage: 'implementation', status: 'succeeded', queuedHoursAgo: 7, attempt: 2, latencyS: 90, durationS: 700, costUsd: 2, tokens: 7000 }],
    [a, 'acme/app', { stage: 'review', status: 'succeeded', queuedHoursAgo: 6, latencyS: 700, durationS: 100, costUsd: 0.25 }],
    [a, 'acme/app', { stage: 'deploy', status: 'succeeded', queuedHoursAgo: 3.1, latencyS: 2, durationS: 300 }],
    [a, 'acme/app', { stage: 'implementation', status: 'running', queuedHoursAgo: 0.5, latencyS: 10 }],
    [a, 'acme/app', { stage: 'implementation', status: 'submitting', queuedHoursAgo: 0.1, latencyS: null }],
    [b, 'acme/lib', { stage: 'planning', status: 'cancelled', queuedHoursAgo: 2, latencyS: null, costUsd: 0.1 }],
    [b, 'acme/lib', { stage: 'implementation', status: 'running', queuedHoursAgo: 1, latencyS: 5, repository: HOSTILE_REPO, costUsd: 3 }],
    [b, 'acme/lib', { stage: 'implementation', status: 'queued', queuedHoursAgo: 0.2, latencyS: null }],
    // outside the default 24 h window
    [b, 'acme/lib', { stage: 'planning', status: 'succeeded', queuedHoursAgo: 50, latencyS: 3, costUsd: 9 }],
    [a, 'acme/app', { stage: 'implementation', status: 'failed', queuedHoursAgo: 72, attempt: 3, latencyS: 3, costUsd: 4 }],
  ];
  for (const [idea, repo, r] of runs) await seedRun(db.sql, idea, repo, r);
  // a regression of a's deploy, remediated by the deploy that succeeded 2 h later; b's still open
  await db.sql`insert into codex_kb.run_events (idea_id, event_type, actor, emitted_at) values
    (${a.ideaId}, 'monitoring.regression_detected', 'telemetry', (select completed_at from codex_kb.task_runs where idea_id = ${a.ideaId} and stage = 'deploy') - interval '2 hours'),
    (${b.ideaId}, 'monitoring.regression_detected', 'telemetry', now() - interval '1 hour')`;
  const finding = (rule: string, enforced: boolean, wouldBlock: boolean, hoursAgo: number) => db.sql`
    insert into codex_kb.policy_findings (evaluation_id, idea_id, checkpoint, policy, rule, result, severity, mode, enforced, would_block, message, effective_policy_hash, created_at)
    values (gen_random_uuid(), ${a.ideaId}, 'pre-merge', 'p@1', ${rule}, 'fail', 'high', ${enforced ? 'enforce' : 'evaluate'}, ${enforced}, ${wouldBlock}, 'm', 'h',
            now() - make_interval(secs => ${hoursAgo * 3600}))`;
  await finding(HOSTILE_RULE, true, false, 1);
  await finding(HOSTILE_RULE, true, false, 2);
  await finding('requiredTests', false, true, 3);
  await finding('requiredTests', true, false, 40);
  await db.sql`insert into codex_kb.approvals (idea_id, checkpoint, reason, requested_by, created_at) values
    (${a.ideaId}, 'pre-merge', 'r', 'policy', now() - interval '30 minutes'), (${b.ideaId}, 'pre-merge', 'r', 'policy', now() - interval '5 minutes'),
    (${b.ideaId}, 'pre-deploy', 'r', 'policy', now() - interval '1 minute')`;
}, 60_000);
afterAll(() => status?.close());

describe('GET /metrics', () => {
  let p: Parsed;
  beforeAll(async () => {
    const r = await scrape();
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    p = parsePrometheus(r.text);
  });
  const inWindow = '24 hours';

  it('declares HELP and TYPE for every family, gauges and histograms', () => {
    expect(p.types.get('facteur_queue_latency_seconds')).toBe('histogram');
    expect(p.types.get('facteur_run_duration_seconds')).toBe('histogram');
    for (const name of ['facteur_workflow_submissions', 'facteur_run_outcomes', 'facteur_run_retries', 'facteur_mttr_seconds', 'facteur_cost_usd_by_repository',
      'facteur_cost_usd_by_idea', 'facteur_policy_blocks', 'facteur_approvals_waiting', 'facteur_active_runs', 'facteur_run_limit']) {
      expect(p.types.get(name), name).toBe('gauge');
      expect(p.help.get(name), name).toBeTruthy();
    }
  });

  it('submissions, outcomes and retries equal the database, per stage, within the window', async () => {
    const rows = await db.sql<{ stage: string; status: string; n: number; submitted: number; retries: number }[]>`
      select stage, status, count(*)::int as n, count(submitted_at)::int as submitted, count(*) filter (where retry_count > 0)::int as retries
        from codex_kb.task_runs where queued_at > now() - ${inWindow}::interval group by 1, 2`;
    expect(rows.reduce((a, r) => a + r.n, 0)).toBe(10);
    for (const r of rows) expect(valueOf(p, 'facteur_run_outcomes', { stage: r.stage, outcome: r.status }), `${r.stage} ${r.status}`).toBe(r.n);
    expect(p.series.filter((s) => s.name === 'facteur_run_outcomes').reduce((a, s) => a + s.value, 0)).toBe(10);
    const per = (k: 'submitted' | 'retries', stage: string) => rows.filter((r) => r.stage === stage).reduce((a, r) => a + r[k], 0);
    for (const stage of ['planning', 'implementation', 'review', 'deploy']) {
      expect(valueOf(p, 'facteur_workflow_submissions', { stage }), stage).toBe(per('submitted', stage));
      expect(valueOf(p, 'facteur_run_retries', { stage }), stage).toBe(per('retries', stage));
    }
    expect(valueOf(p, 'facteur_run_retries', { stage: 'implementation' })).toBe(1);
  });

  it('queue latency and duration histograms count what the database holds, bucket by bucket', async () => {
    const [q] = await db.sql<{ n: number; le60: number; le5: number; sum: number }[]>`
      select count(*)::int as n, count(*) filter (where started_at - queued_at <= interval '60 seconds')::int as le60,
             count(*) filter (where started_at - queued_at <= interval '5 seconds')::int as le5,
             sum(extract(epoch from started_at - queued_at))::float8 as sum
        from codex_kb.task_runs where stage = 'implementation' and started_at is not null and queued_at > now() - ${inWindow}::interval`;
    const stage = { stage: 'implementation' };
    expect(valueOf(p, 'facteur_queue_latency_seconds_count', stage)).toBe(q!.n);
    expect(valueOf(p, 'facteur_queue_latency_seconds_bucket', { ...stage, le: '60' })).toBe(q!.le60);
    expect(valueOf(p, 'facteur_queue_latency_seconds_bucket', { ...stage, le: '5' })).toBe(q!.le5);
    expect(valueOf(p, 'facteur_queue_latency_seconds_bucket', { ...stage, le: '+Inf' })).toBe(q!.n);
    expect(valueOf(p, 'facteur_queue_latency_seconds_sum', stage)).toBeCloseTo(q!.sum, 3);
    expect(q).toMatchObject({ n: 4, le60: 3, le5: 1 });
    // finished runs only: the failed one (400 s) and the retry (700 s)
    expect(valueOf(p, 'facteur_run_duration_seconds_count', stage)).toBe(2);
    expect(valueOf(p, 'facteur_run_duration_seconds_bucket', { ...stage, le: '600' })).toBe(1);
    expect(valueOf(p, 'facteur_run_duration_seconds_sum', stage)).toBeCloseTo(1100, 3);
  });

  it('MTTR: a regression to its remediation deployed; an unremediated one is open', () => {
    expect(valueOf(p, 'facteur_mttr_seconds')).toBeCloseTo(7200, 0);
    expect(valueOf(p, 'facteur_regressions', { repository: 'acme/app', state: 'remediated' })).toBe(1);
    expect(valueOf(p, 'facteur_regressions', { repository: 'acme/lib', state: 'open' })).toBe(1);
  });

  it('cost per repository and per idea equal the database; a hostile repository name round-trips as a label', async () => {
    const repos = await db.sql<{ repository: string; usd: number }[]>`
      select repository, sum(cost_usd)::float8 as usd from codex_kb.task_runs where queued_at > now() - ${inWindow}::interval group by 1`;
    expect(repos.map((r) => r.repository).sort()).toEqual(['acme/app', 'acme/lib', HOSTILE_REPO].sort());
    for (const r of repos) expect(valueOf(p, 'facteur_cost_usd_by_repository', { repository: r.repository }), r.repository).toBeCloseTo(r.usd, 6);
    expect(valueOf(p, 'facteur_tokens_by_repository', { repository: 'acme/app' })).toBe(13_000);
    const ideas = await db.sql<{ idea: string; repository: string; usd: number }[]>`
      select r.idea_id::text as idea, i.repository, sum(r.cost_usd)::float8 as usd from codex_kb.task_runs r join codex_kb.ideas i on i.id = r.idea_id group by 1, 2`;
    // the whole cost of each idea that ran in the window, the runs before it included
    for (const i of ideas) expect(valueOf(p, 'facteur_cost_usd_by_idea', { idea: i.idea, repository: i.repository })).toBeCloseTo(i.usd, 6);
    expect(ideas.find((i) => i.repository === 'acme/lib')!.usd).toBeCloseTo(12.1, 6);
  });

  it('policy blocks, would-have-blocked and approvals waiting equal the database', () => {
    expect(valueOf(p, 'facteur_policy_blocks', { checkpoint: 'pre-merge', rule: HOSTILE_RULE })).toBe(2);
    expect(valueOf(p, 'facteur_policy_blocks', { checkpoint: 'pre-merge', rule: 'requiredTests' })).toBeUndefined(); // 40 h ago
    expect(valueOf(p, 'facteur_policy_would_block', { checkpoint: 'pre-merge', rule: 'requiredTests' })).toBe(1);
    expect(valueOf(p, 'facteur_approvals_waiting', { checkpoint: 'pre-merge' })).toBe(2);
    expect(valueOf(p, 'facteur_approvals_waiting', { checkpoint: 'pre-deploy' })).toBe(1);
    expect(valueOf(p, 'facteur_approval_oldest_wait_seconds', { checkpoint: 'pre-merge' })).toBeGreaterThanOrEqual(1800);
  });

  it('active runs per limit scope, beside each limit', async () => {
    const [active] = await db.sql<{ n: number }[]>`select count(*)::int as n from codex_kb.task_runs where status in ('submitting', 'running')`;
    expect(active!.n).toBe(3);
    expect(valueOf(p, 'facteur_active_runs', { scope: 'global', name: 'global' })).toBe(3);
    expect(valueOf(p, 'facteur_run_limit', { scope: 'global', name: 'global' })).toBe(config.limits.global);
    expect(valueOf(p, 'facteur_active_runs', { scope: 'stage', name: 'implementation' })).toBe(3);
    expect(valueOf(p, 'facteur_run_limit', { scope: 'stage', name: 'implementation' })).toBe(config.limits.stages.implementation);
    expect(valueOf(p, 'facteur_active_runs', { scope: 'stage', name: 'deploy' })).toBe(0);
    expect(valueOf(p, 'facteur_active_runs', { scope: 'repository', name: 'acme/app' })).toBe(2);
    expect(valueOf(p, 'facteur_active_runs', { scope: 'repository', name: HOSTILE_REPO })).toBe(1);
    expect(valueOf(p, 'facteur_run_limit', { scope: 'repository', name: 'acme/app' })).toBe(config.limits.repository);
  });

  it('?window= widens what is counted: 4 days include the older runs', async () => {
    const wide = parsePrometheus((await scrape('/metrics?window=4d')).text);
    expect(valueOf(wide, 'facteur_metrics_window_seconds')).toBe(4 * 86_400);
    expect(wide.series.filter((s) => s.name === 'facteur_run_outcomes').reduce((a, s) => a + s.value, 0)).toBe(12);
    expect(valueOf(wide, 'facteur_policy_blocks', { checkpoint: 'pre-merge', rule: 'requiredTests' })).toBe(1);
  });
});

describe('GET /v1/metrics', () => {
  it('the same figures as JSON, histograms ending with "+Inf"', async () => {
    const res = await fetch(`${status.url}/v1/metrics`, { headers: { authorization: `Bearer ${VIEWER}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.window.seconds).toBe(86_400);
    const text = parsePrometheus((await scrape()).text);
    for (const f of body.families) {
      expect(text.types.get(f.name), f.name).toBe(f.type);
      // (ages move on between the two requests)
      const digits = f.name === 'facteur_approval_oldest_wait_seconds' ? -1 : 6;
      if (f.type === 'gauge') for (const s of f.samples) expect(valueOf(text, f.name, s.labels), f.name).toBeCloseTo(s.value, digits);
      else for (const s of f.samples) {
        expect(s.buckets.at(-1)).toEqual({ le: '+Inf', count: s.count });
        expect(valueOf(text, `${f.name}_count`, s.labels)).toBe(s.count);
      }
    }
  });
});

describe('access and hostile queries', () => {
  it('no token → 401, a token without viewer → 403, on both routes', async () => {
    for (const path of ['/metrics', '/v1/metrics']) {
      expect((await scrape(path, '')).status, path).toBe(401);
      expect((await scrape(path, 'wrong')).status, path).toBe(401);
      expect((await scrape(path, NOBODY)).status, path).toBe(403);
    }
  });

  it.each([
    ['window=0m', 'window'], ['window=32d', 'window'], ['window=abc', 'window'], ['window=1m&window=2m', 'window'], ['window=%ZZ', 'window'],
    ['window=%00', 'window'], ['window=1h%00', 'window'], ['window=9999999999d', 'window'], ['window={{x}}', 'window'], ['foo=1', 'foo'],
    ['x'.repeat(5000) + '=1', 'x'.repeat(100)], ['window[]=1h', 'window[]'], ['window=-1h', 'window'], ['window=1.5h', 'window'],
  ])('?%.40s → 400 naming %.20s', async (query, path) => {
    for (const route of ['/metrics', '/v1/metrics']) {
      const res = await fetch(`${status.url}${route}?${query}`, { headers: { authorization: `Bearer ${VIEWER}` } });
      expect(res.status, route).toBe(400);
      const body = (await res.json()) as any;
      expect(body.error.issues.map((i: { path: string }) => i.path), route).toContain(path);
    }
  });

  it('every problem of a query is listed at once', async () => {
    const res = await fetch(`${status.url}/v1/metrics?window=0m&a=1&b=2`, { headers: { authorization: `Bearer ${VIEWER}` } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['a', 'b', 'window']);
  });
});
