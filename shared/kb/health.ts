// The knowledge base's health, from the database (so every instance shows the same figures):
// one query module read by `GET /v1/kb/health`, the dashboard's KB page and `/metrics`.
//
// Glossary. The *backlog* is what is waiting to be embedded (reflections without a vector of
// the active version) and ended runs waiting to be reflected on (kb_backlog rows). A
// retrieval is a *hit* when it injected at least one lesson. The *reuse rate* is the share of
// live lessons (not superseded, not synthetic) that were injected at least once. Usefulness
// (−1…1, from the outcomes of the runs a lesson was injected into) is bucketed over the
// lessons injected at least once. Synthetic reflections are the anomaly checks' planted cases
// (shared/kb/anomaly.ts): counted apart, never in the figures about real lessons.
import type { Queryable } from '../db/index.js';

/** The repository the anomaly checks plant their synthetic cases in: retrieval never serves it. */
export const SYNTHETIC_REPOSITORY = 'facteur-kb/synthetic';

/** The KB's self-checks on synthetic cases (shared/kb/anomaly.ts). */
export const ANOMALY_CHECKS = ['kb.anomaly.near_duplicate', 'kb.anomaly.contradiction', 'kb.anomaly.wrong_version'] as const;
/** Every check the health reports: the self-checks and monitoring's baseline (shared/monitoring/baseline.ts). */
export const SELF_CHECKS = [...ANOMALY_CHECKS, 'monitoring.baseline'] as const;

export const USEFULNESS_BUCKETS = [
  { label: '[-1,-0.5)', lo: -Infinity, hi: -0.5 },
  { label: '[-0.5,0)', lo: -0.5, hi: 0 },
  { label: '[0,0.5)', lo: 0, hi: 0.5 },
  { label: '[0.5,1]', lo: 0.5, hi: Infinity },
] as const;

export interface KbHealth {
  readonly generatedAt: string;
  readonly window: { readonly seconds: number; readonly since: string };
  readonly activeVersion: { readonly version: string; readonly provider: string; readonly model: string; readonly dimensions: number } | null;
  readonly versions: readonly { readonly version: string; readonly state: string; readonly active: boolean; readonly vectors: number }[];
  readonly reflections: {
    readonly total: number;
    readonly live: number;
    readonly superseded: number;
    readonly bySource: Readonly<Record<string, number>>;
    /** Vectors per version and source. */
    readonly byVersion: readonly { readonly version: string; readonly source: string; readonly count: number }[];
  };
  readonly backlog: {
    /** Reflections without a vector of the active version (all of them when none is active). */
    readonly unembedded: number;
    /** Ended runs not yet reflected on. */
    readonly runs: number;
    readonly runsDue: number;
    readonly oldestRunS: number | null;
    readonly failing: number;
  };
  readonly retrievals: {
    readonly count: number;
    readonly hits: number;
    /** hits / count; null when there was no retrieval in the window. */
    readonly hitRate: number | null;
    readonly degraded: number;
    readonly latencyMs: { readonly p50: number | null; readonly p99: number | null; readonly max: number | null };
    readonly meanContextBytes: number | null;
  };
  readonly reuse: { readonly live: number; readonly injectedOnce: number; readonly rate: number | null };
  readonly usefulness: { readonly buckets: readonly { readonly label: string; readonly count: number }[]; readonly neverInjected: number };
  readonly reembedJobs: readonly { readonly toVersion: string; readonly fromVersion: string | null; readonly state: string; readonly done: number; readonly total: number; readonly updatedAt: string }[];
  /** The latest result of each anomaly check (`kb.anomaly.*`) and baseline check. */
  readonly checks: readonly { readonly key: string; readonly result: string; readonly message: string; readonly at: string; readonly inWindow: { readonly pass: number; readonly fail: number } }[];
  /** Retrievals per UTC day of the last two weeks: for the dashboard's charts. */
  readonly daily: readonly { readonly day: string; readonly retrievals: number; readonly hitRate: number | null; readonly p99Ms: number | null }[];
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const round = (n: number | null, digits = 3) => (n === null ? null : Math.round(n * 10 ** digits) / 10 ** digits);

export async function kbHealth(sql: Queryable, windowS: number, days = 14): Promise<KbHealth> {
  const [clock] = await sql<{ now: Date; since: Date }[]>`select now() as now, now() - make_interval(secs => ${windowS}) as since`;
  const since = clock!.since;
  const [versions, bySource, byVersion, backlog, retrievals, reuse, buckets, jobs, checks, daily] = await Promise.all([
    sql<{ version: string; provider: string; model: string; dimensions: number; state: string; active: boolean; vectors: number }[]>`
      select v.version, v.provider, v.model, v.dimensions, v.state, v.active,
             (select count(*)::int from codex_kb.reflection_embeddings e where e.version = v.version) as vectors
        from codex_kb.embedding_versions v order by v.created_at, v.version`,
    sql<{ source: string; n: number; superseded: number }[]>`
      select source, count(*)::int as n, count(*) filter (where superseded_by is not null)::int as superseded
        from codex_kb.reflections group by source order by source`,
    sql<{ version: string; source: string; n: number }[]>`
      select e.version, r.source, count(*)::int as n
        from codex_kb.reflection_embeddings e join codex_kb.reflections r on r.id = e.reflection_id
       group by 1, 2 order by 1, 2`,
    sql<{ unembedded: number; runs: number; due: number; oldest_s: number | null; failing: number }[]>`
      select (select count(*)::int from codex_kb.reflections r
               where r.source <> 'synthetic' and not exists (
                 select 1 from codex_kb.reflection_embeddings e join codex_kb.embedding_versions v on v.version = e.version and v.active
                  where e.reflection_id = r.id)) as unembedded,
             count(*)::int as runs, count(*) filter (where next_attempt_at <= now())::int as due,
             extract(epoch from now() - min(enqueued_at))::float8 as oldest_s,
             count(*) filter (where last_error is not null)::int as failing
        from codex_kb.kb_backlog`,
    sql<{ n: number; hits: number; degraded: number; p50: number | null; p99: number | null; max: number | null; bytes: number | null }[]>`
      select count(*)::int as n, count(*) filter (where cardinality(injected) > 0)::int as hits,
             count(*) filter (where degraded is not null)::int as degraded,
             percentile_cont(0.5) within group (order by latency_ms)::float8 as p50,
             percentile_cont(0.99) within group (order by latency_ms)::float8 as p99,
             max(latency_ms)::float8 as max, avg(context_bytes)::float8 as bytes
        from codex_kb.kb_retrievals where created_at >= ${since}`,
    sql<{ live: number; injected: number; never: number }[]>`
      select count(*)::int as live, count(*) filter (where injected_count > 0)::int as injected,
             count(*) filter (where injected_count = 0)::int as never
        from codex_kb.reflections where superseded_by is null and source <> 'synthetic'`,
    sql<{ i: number; n: number }[]>`
      select width_bucket(usefulness::float8, array[-0.5, 0, 0.5]::float8[]) as i, count(*)::int as n
        from codex_kb.reflections where superseded_by is null and source <> 'synthetic' and injected_count > 0 group by 1`,
    sql<{ to_version: string; from_version: string | null; state: string; done: number; total: number; updated_at: Date }[]>`
      select to_version, from_version, state, done, total, updated_at from codex_kb.kb_reembed_jobs
       where state in ('running', 'indexing') or updated_at >= ${since} order by updated_at desc limit 20`,
    // the latest of each self-check, through the (check_key, created_at desc) index: one probe
    // per known key (a skip scan over every key would walk the kb.retrieval rows, one per run)
    sql<{ key: string; result: string; message: string; at: Date; pass: number; fail: number }[]>`
      select keys.key, l.result, l.message, l.created_at as at,
             (select count(*)::int from codex_kb.policy_checks c where c.check_key = keys.key and c.created_at >= ${since} and c.result = 'pass') as pass,
             (select count(*)::int from codex_kb.policy_checks c where c.check_key = keys.key and c.created_at >= ${since} and c.result in ('fail', 'warn')) as fail
        from unnest(${[...SELF_CHECKS]}::text[]) as keys(key),
             lateral (select result, message, created_at from codex_kb.policy_checks c where c.check_key = keys.key order by created_at desc, id desc limit 1) l
       order by keys.key`,
    sql<{ day: string; n: number; hit_rate: number | null; p99: number | null }[]>`
      with days as (
        select to_char(d, 'YYYY-MM-DD') as day
          from generate_series((now() at time zone 'UTC')::date - (${days}::int - 1), (now() at time zone 'UTC')::date, interval '1 day') d),
      r as (
        select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD') as day, count(*)::int as n,
               (count(*) filter (where cardinality(injected) > 0))::float8 / nullif(count(*), 0) as hit_rate,
               percentile_cont(0.99) within group (order by latency_ms)::float8 as p99
          from codex_kb.kb_retrievals
         where created_at >= ((now() at time zone 'UTC')::date - (${days}::int - 1))::timestamp at time zone 'UTC' group by 1)
      select days.day, coalesce(r.n, 0)::int as n, r.hit_rate, r.p99 from days left join r using (day) order by days.day`,
  ]);
  const active = versions.find((v) => v.active);
  const r = retrievals[0]!;
  const b = backlog[0]!;
  const u = reuse[0]!;
  const total = bySource.reduce((a, s) => a + s.n, 0);
  const superseded = bySource.reduce((a, s) => a + s.superseded, 0);
  return {
    generatedAt: clock!.now.toISOString(),
    window: { seconds: windowS, since: since.toISOString() },
    activeVersion: active ? { version: active.version, provider: active.provider, model: active.model, dimensions: active.dimensions } : null,
    versions: versions.map((v) => ({ version: v.version, state: v.state, active: v.active, vectors: v.vectors })),
    reflections: {
      total, live: total - superseded, superseded,
      bySource: Object.fromEntries(bySource.map((s) => [s.source, s.n])),
      byVersion: byVersion.map((x) => ({ version: x.version, source: x.source, count: x.n })),
    },
    backlog: { unembedded: b.unembedded, runs: b.runs, runsDue: b.due, oldestRunS: round(num(b.oldest_s), 1), failing: b.failing },
    retrievals: {
      count: r.n, hits: r.hits, hitRate: r.n ? round(r.hits / r.n, 4) : null, degraded: r.degraded,
      latencyMs: { p50: round(num(r.p50)), p99: round(num(r.p99)), max: round(num(r.max)) },
      meanContextBytes: round(num(r.bytes), 1),
    },
    reuse: { live: u.live, injectedOnce: u.injected, rate: u.live ? round(u.injected / u.live, 4) : null },
    usefulness: {
      buckets: USEFULNESS_BUCKETS.map((bk, i) => ({ label: bk.label, count: buckets.find((x) => x.i === i)?.n ?? 0 })),
      neverInjected: u.never,
    },
    reembedJobs: jobs.map((j) => ({ toVersion: j.to_version, fromVersion: j.from_version, state: j.state, done: j.done, total: j.total, updatedAt: j.updated_at.toISOString() })),
    checks: checks.map((c) => ({ key: c.key, result: c.result, message: c.message, at: c.at.toISOString(), inWindow: { pass: c.pass, fail: c.fail } })),
    daily: daily.map((d) => ({ day: d.day, retrievals: d.n, hitRate: round(num(d.hit_rate), 4), p99Ms: round(num(d.p99)) })),
  };
}
