// The metrics, computed from the database on each request, so every instance answers the
// same. Each query reads a bounded window through an index of migration 0015 (runs by
// `queued_at`, regressions and blocking findings by time) or a partial index that holds only
// live rows (active runs, pending approvals), never the whole history: with 1 M historical
// runs a scrape stays in the tens of milliseconds (test/metrics/metrics-scale.test.ts).
import { kbHealth } from '../kb/health.js';
import { kbFamilies } from '../kb/health-metrics.js';
import type { Config } from '../config/index.js';
import type { Sql, Tx } from '../db/index.js';
import {
  gauge, histogram, QUEUE_LATENCY_BUCKETS, RUN_DURATION_BUCKETS, TOP_IDEAS,
  type GaugeSample, type HistogramSample, type MetricFamily, type MetricsSnapshot,
} from './model.js';

export type MetricsConfig = Pick<Config, 'limits'>;

interface RunRow { stage: string; status: string; n: number; submitted: number; retries: number }
/** Observations of one metric and stage whose first bucket is `i` (the bounds' length: none, only +Inf). */
interface BucketRow { metric: 'queue' | 'duration'; stage: string; i: number; n: number; total: number }
interface RegressionRow { repository: string; detected_at: Date; remediated_at: Date | null }
interface CostRow { key: string; repository: string; usd: number; tokens: number }
interface FindingRow { checkpoint: string; rule: string; enforced: number; would_block: number }
interface ApprovalRow { checkpoint: string; n: number; oldest_s: number }
interface ActiveRow { stage: string; repository: string; idea_id: string; n: number }

/** Every metric over the window that ends now and lasts `windowS` seconds. */
export async function collectMetrics(pool: Sql, config: MetricsConfig, windowS: number): Promise<MetricsSnapshot> {
  // One read-only transaction: one snapshot for every figure. JIT off: the planner's
  // estimate for the per-idea cost passes jit_above_cost, and compiling took 815 ms for a
  // query that runs in 8 ms (beside 1 M historical runs).
  return pool.begin('read only', async (sql) => {
    await sql`set local jit = off`;
    return collect(sql, config, windowS);
  }) as Promise<MetricsSnapshot>;
}

async function collect(sql: Tx, config: MetricsConfig, windowS: number): Promise<MetricsSnapshot> {
  const [clock] = await sql<{ now: Date; since: Date }[]>`select now() as now, now() - make_interval(secs => ${windowS}) as since`;
  const since = clock!.since;
  const [runs, buckets, regressions, repoCost, ideaCost, findings, approvals, active] = await Promise.all([
    sql<RunRow[]>`
      select stage, status, count(*)::int as n, count(*) filter (where submitted_at is not null)::int as submitted,
             count(*) filter (where retry_count > 0)::int as retries
        from codex_kb.task_runs where queued_at >= ${since} group by stage, status order by stage, status`,
    // Each observation counted once, in the first bucket whose bound it does not pass
    // (v <= le): its index is the number of bounds below it, which width_bucket gives on the
    // negated bounds (it counts bounds <= its operand). The buckets are cumulated below.
    sql<BucketRow[]>`
      with r as (
        select stage,
               extract(epoch from (started_at - queued_at))::float8 as q,
               case when completed_at is not null and status in ('succeeded', 'failed')
                    then extract(epoch from (completed_at - coalesce(started_at, submitted_at, queued_at)))::float8 end as d
          from codex_kb.task_runs where queued_at >= ${since}
      ), v as (
        select stage, 'queue' as metric, q as v, ${QUEUE_LATENCY_BUCKETS.length}::int - width_bucket(-q, ${negated(QUEUE_LATENCY_BUCKETS)}::float8[]) as i
          from r where q is not null
        union all
        select stage, 'duration', d, ${RUN_DURATION_BUCKETS.length}::int - width_bucket(-d, ${negated(RUN_DURATION_BUCKETS)}::float8[])
          from r where d is not null
      )
      select metric, stage, i, count(*)::int as n, sum(v)::float8 as total from v group by 1, 2, 3 order by 1, 2, 3`,
    // A regression is remediated when the idea's next deploy run succeeded (the remediation
    // deployed: shared/intake/facts.ts opens it, shared/lifecycle/advance.ts deploys it).
    sql<RegressionRow[]>`
      select i.repository, e.emitted_at as detected_at,
             (select min(r.completed_at) from codex_kb.task_runs r
               where r.idea_id = e.idea_id and r.stage = 'deploy' and r.status = 'succeeded' and r.completed_at > e.emitted_at) as remediated_at
        from codex_kb.run_events e join codex_kb.ideas i on i.id = e.idea_id
       where e.event_type = 'monitoring.regression_detected' and e.emitted_at >= ${since}`,
    sql<CostRow[]>`
      select repository as key, repository, sum(cost_usd)::float8 as usd, sum(codex_kb.run_tokens(usage))::float8 as tokens
        from codex_kb.task_runs where queued_at >= ${since} group by repository order by repository`,
    // An idea's whole cost, for the ideas that ran in the window (the most expensive first):
    // per idea through its index (lateral), so the history of other ideas is never read.
    sql<CostRow[]>`
      select a.idea_id::text as key, (select repository from codex_kb.ideas where id = a.idea_id) as repository, c.usd, c.tokens
        from (select distinct idea_id from codex_kb.task_runs where queued_at >= ${since}) a,
             lateral (select sum(r.cost_usd)::float8 as usd, sum(codex_kb.run_tokens(r.usage))::float8 as tokens
                        from codex_kb.task_runs r where r.idea_id = a.idea_id) c
       order by c.usd desc, a.idea_id limit ${TOP_IDEAS}`,
    sql<FindingRow[]>`
      select checkpoint, rule, count(*) filter (where enforced)::int as enforced, count(*) filter (where would_block)::int as would_block
        from codex_kb.policy_findings where (enforced or would_block) and created_at >= ${since}
       group by checkpoint, rule order by checkpoint, rule`,
    sql<ApprovalRow[]>`
      select checkpoint, count(*)::int as n, extract(epoch from (now() - min(created_at)))::float8 as oldest_s
        from codex_kb.approvals where status = 'pending' group by checkpoint order by checkpoint`,
    sql<ActiveRow[]>`
      select stage, repository, idea_id::text, count(*)::int as n
        from codex_kb.task_runs where status in ('submitting', 'running') group by stage, repository, idea_id`,
  ]);
  const families: MetricFamily[] = [
    gauge('facteur_metrics_window_seconds', 'How much recent history the windowed figures cover (claimed runs, findings, regressions).', [{ labels: {}, value: windowS }]),
    gauge('facteur_workflow_submissions', 'Runs whose workflow was submitted, claimed in the window, by stage.', bySum(runs, (r) => ({ stage: r.stage }), (r) => r.submitted)),
    gauge('facteur_run_outcomes', 'Runs claimed in the window by stage and current status (queued, submitting, running, succeeded, failed, cancelled).',
      runs.map((r) => ({ labels: { stage: r.stage, outcome: r.status }, value: r.n }))),
    gauge('facteur_run_retries', 'Retry attempts (a run after the first of its task) claimed in the window, by stage.', bySum(runs, (r) => ({ stage: r.stage }), (r) => r.retries)),
    histogram('facteur_queue_latency_seconds', 'From claimed to the step reporting started, for runs claimed in the window, by stage.', histogramsOf(buckets, 'queue')),
    histogram('facteur_run_duration_seconds', 'From started to finished, for finished runs claimed in the window, by stage.', histogramsOf(buckets, 'duration')),
    ...mttr(regressions),
    gauge('facteur_cost_usd_by_repository', 'Cost reported by runs claimed in the window, per repository.', repoCost.map((c) => ({ labels: { repository: c.repository }, value: c.usd }))),
    gauge('facteur_tokens_by_repository', 'Tokens reported by runs claimed in the window, per repository.', repoCost.map((c) => ({ labels: { repository: c.repository }, value: c.tokens }))),
    gauge('facteur_cost_usd_by_idea', `Whole cost of each idea that ran in the window (the ${TOP_IDEAS} most expensive).`, ideaCost.map((c) => ({ labels: { idea: c.key, repository: c.repository }, value: c.usd }))),
    gauge('facteur_policy_blocks', 'Enforced policy findings (they stopped or held work) recorded in the window, by checkpoint and rule.',
      findings.filter((f) => f.enforced > 0).map((f) => ({ labels: { checkpoint: f.checkpoint, rule: f.rule }, value: f.enforced }))),
    gauge('facteur_policy_would_block', 'Failed findings not enforced (they would have blocked under enforce) recorded in the window, by checkpoint and rule.',
      findings.filter((f) => f.would_block > 0).map((f) => ({ labels: { checkpoint: f.checkpoint, rule: f.rule }, value: f.would_block }))),
    gauge('facteur_approvals_waiting', 'Pending approvals, by checkpoint.', approvals.map((a) => ({ labels: { checkpoint: a.checkpoint }, value: a.n }))),
    gauge('facteur_approval_oldest_wait_seconds', 'Age of the oldest pending approval, by checkpoint.', approvals.map((a) => ({ labels: { checkpoint: a.checkpoint }, value: round(a.oldest_s) }))),
    ...scopes(active, config.limits),
    // the knowledge base's figures (shared/kb/health.ts: the same module as /v1/kb/health)
    ...kbFamilies(await kbHealth(sql, windowS)),
  ];
  return { generatedAt: clock!.now.toISOString(), window: { seconds: windowS, since: since.toISOString() }, families };
}

function bySum<T>(rows: readonly T[], key: (r: T) => Record<string, string>, value: (r: T) => number): GaugeSample[] {
  const out = new Map<string, { labels: Record<string, string>; value: number }>();
  for (const r of rows) {
    const labels = key(r);
    const k = JSON.stringify(labels);
    const s = out.get(k) ?? { labels, value: 0 };
    s.value += value(r);
    out.set(k, s);
  }
  return [...out.values()];
}

function histogramsOf(rows: readonly BucketRow[], metric: BucketRow['metric']): HistogramSample[] {
  const bounds = metric === 'queue' ? QUEUE_LATENCY_BUCKETS : RUN_DURATION_BUCKETS;
  const byStage = new Map<string, { counts: number[]; sum: number }>();
  for (const r of rows) {
    if (r.metric !== metric) continue;
    const h = byStage.get(r.stage) ?? { counts: new Array<number>(bounds.length + 1).fill(0), sum: 0 };
    h.counts[r.i] = (h.counts[r.i] ?? 0) + r.n;
    h.sum += r.total;
    byStage.set(r.stage, h);
  }
  return [...byStage].map(([stage, h]) => {
    let cumulative = 0;
    const buckets = [...bounds, Infinity].map((le, i) => ({ le, count: (cumulative += h.counts[i]!) }));
    return { labels: { stage }, buckets, sum: round(h.sum), count: cumulative };
  });
}

/** Bucket bounds negated and ascending, for width_bucket. */
const negated = (bounds: readonly number[]) => bounds.map((b) => -b).reverse();

function mttr(rows: readonly RegressionRow[]): MetricFamily[] {
  const remediated = rows.filter((r) => r.remediated_at);
  const seconds = remediated.map((r) => (r.remediated_at!.getTime() - r.detected_at.getTime()) / 1000);
  const mean = seconds.length ? seconds.reduce((a, b) => a + b, 0) / seconds.length : 0;
  return [
    gauge('facteur_regressions', 'Deploy regressions detected in the window, by repository and whether their remediation is deployed.',
      bySum(rows, (r) => ({ repository: r.repository, state: r.remediated_at ? 'remediated' : 'open' }), () => 1)),
    gauge('facteur_mttr_seconds', 'Mean time from a regression detected in the window to its remediation deployed (remediated regressions only; 0 when none).',
      [{ labels: {}, value: round(mean) }]),
  ];
}

/** Active runs per concurrency scope (shared/scheduler), beside the scope's limit. */
function scopes(rows: readonly ActiveRow[], limits: MetricsConfig['limits']): MetricFamily[] {
  const active: GaugeSample[] = [];
  const limit: GaugeSample[] = [];
  const add = (scope: string, name: string, n: number, max: number | undefined) => {
    active.push({ labels: { scope, name }, value: n });
    if (max !== undefined) limit.push({ labels: { scope, name }, value: max });
  };
  const total = rows.reduce((a, r) => a + r.n, 0);
  add('global', 'global', total, limits.global);
  const sums = (key: (r: ActiveRow) => string) => {
    const m = new Map<string, number>();
    for (const r of rows) m.set(key(r), (m.get(key(r)) ?? 0) + r.n);
    return m;
  };
  const stages = sums((r) => r.stage);
  for (const stage of new Set([...Object.keys(limits.stages), ...stages.keys()])) add('stage', stage, stages.get(stage) ?? 0, limits.stages[stage as keyof typeof limits.stages]);
  for (const [repo, n] of sums((r) => r.repository)) add('repository', repo, n, limits.repository);
  for (const [idea, n] of sums((r) => r.idea_id)) add('idea', idea, n, limits.idea);
  return [
    gauge('facteur_active_runs', 'Runs submitting or running, per concurrency scope (global, stage, repository, idea).', active),
    gauge('facteur_run_limit', 'The concurrency limit of each scope in facteur_active_runs (FACTEUR_LIMIT_*).', limit),
  ];
}

const round = (n: number) => Math.round(n * 1e6) / 1e6;
