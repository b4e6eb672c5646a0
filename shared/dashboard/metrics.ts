// The metrics page: daily series over the last two weeks, computed from the database (so
// every instance shows the same figures), drawn as small SVG charts.
//   throughput     ideas completed per day
//   queue latency  median seconds from a run's queueing to its start, by the day it started
//   success rate   succeeded / (succeeded + failed) runs, by the day they ended
//   MTTR           mean minutes from a failed run to the next success of the same task
//                  (the repair time of a failure), by the day of that success
//   spend          USD the runs reported, by the day they were queued
import type { Queryable } from '../db/index.js';
import { chart, type Point } from './charts.js';
import { h, money, type Html } from './html.js';

export const METRIC_DAYS = 14;

export interface MetricsView {
  readonly throughput: Point[];
  readonly queueLatencyS: Point[];
  readonly successRate: Point[];
  readonly mttrMin: Point[];
  readonly spendUsd: Point[];
}

type Row = { day: string; throughput: number | null; latency: number | null; success: number | null; mttr: number | null; spend: number | null };

export async function loadMetrics(sql: Queryable, days = METRIC_DAYS): Promise<MetricsView> {
  const rows = await sql<Row[]>`
    with days as (
      select to_char(d, 'YYYY-MM-DD') as day
        from generate_series((now() at time zone 'UTC')::date - (${days}::int - 1), (now() at time zone 'UTC')::date, interval '1 day') d),
    since as (select ((now() at time zone 'UTC')::date - (${days}::int - 1))::timestamp at time zone 'UTC' as t),
    done as (
      select to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD') as day, count(*)::float8 as n
        from codex_kb.ideas, since where status = 'completed' and updated_at >= since.t group by 1),
    latency as (
      select to_char(started_at at time zone 'UTC', 'YYYY-MM-DD') as day,
             percentile_cont(0.5) within group (order by extract(epoch from started_at - queued_at))::float8 as s
        from codex_kb.task_runs, since where started_at >= since.t group by 1),
    outcome as (
      select to_char(completed_at at time zone 'UTC', 'YYYY-MM-DD') as day,
             (count(*) filter (where status = 'succeeded'))::float8 / nullif(count(*) filter (where status in ('succeeded', 'failed')), 0) as rate
        from codex_kb.task_runs, since where completed_at >= since.t group by 1),
    repaired as (
      select to_char(ok.completed_at at time zone 'UTC', 'YYYY-MM-DD') as day,
             avg(extract(epoch from ok.completed_at - f.completed_at) / 60)::float8 as m
        from codex_kb.task_runs f
        join lateral (select completed_at from codex_kb.task_runs s
                       where s.task_id = f.task_id and s.status = 'succeeded' and s.attempt > f.attempt order by s.attempt limit 1) ok on true,
             since
       where f.status = 'failed' and ok.completed_at >= since.t group by 1),
    spend as (
      select to_char(queued_at at time zone 'UTC', 'YYYY-MM-DD') as day, sum(cost_usd)::float8 as usd
        from codex_kb.task_runs, since where queued_at >= since.t group by 1)
    select days.day, done.n as throughput, latency.s as latency, outcome.rate as success, repaired.m as mttr, spend.usd as spend
      from days left join done using (day) left join latency using (day) left join outcome using (day)
           left join repaired using (day) left join spend using (day)
     order by days.day`;
  const series = (f: (r: Row) => number | null) => rows.map((r) => ({ day: r.day, value: f(r) }));
  return {
    throughput: series((r) => r.throughput ?? 0),
    queueLatencyS: series((r) => r.latency),
    successRate: series((r) => r.success),
    mttrMin: series((r) => r.mttr),
    spendUsd: series((r) => r.spend ?? 0),
  };
}

export function renderMetrics(m: MetricsView): Html {
  const secs = (n: number) => (n >= 100 ? `${n.toFixed(0)}s` : `${n.toFixed(1)}s`);
  return h`<h1>Metrics</h1>
<p class="muted">The last ${m.throughput.length} UTC days, from the database. MTTR is the mean time from a failed run to the next success of the same task.</p>
<div class="grid">
${chart('throughput (ideas completed)', m.throughput, 'bar', (n) => n.toFixed(0))}
${chart('queue latency (median)', m.queueLatencyS, 'line', secs)}
${chart('success rate (runs)', m.successRate, 'line', (n) => `${(n * 100).toFixed(0)}%`)}
${chart('MTTR (minutes)', m.mttrMin, 'line', (n) => `${n.toFixed(1)}m`)}
${chart('spend', m.spendUsd, 'bar', money)}
</div>`;
}
