// `GET /metrics` (Prometheus text) and `GET /v1/metrics` (the same as JSON), served by the
// status function behind role viewer: a scrape token is an API token with that role.
// Both take one optional parameter, `window` (`30m`, `24h`, `7d`; the default is
// FACTEUR_METRICS_WINDOW_HOURS); anything else in the query is a 400 listing every problem.
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import { ValidationError, type Issue } from '../errors/index.js';
import { json } from '../http/index.js';
import { route, type Route, type RouteContext } from '../http/router.js';
import { collectMetrics } from './collect.js';
import type { MetricsSnapshot } from './model.js';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './prometheus.js';

export interface MetricsApiDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'limits' | 'metrics'>;
}

type Ctx = RouteContext<MetricsApiDeps>;

const UNIT_S = { m: 60, h: 3600, d: 86_400 } as const;
export const MIN_WINDOW_S = 60;
export const MAX_WINDOW_S = 31 * 86_400;

/** `?window=<n>m|h|d`, from a minute to 31 days; every problem listed. */
export function parseMetricsQuery(q: URLSearchParams, defaultS: number): { windowS: number } {
  const issues: Issue[] = [];
  for (const key of new Set(q.keys())) if (key !== 'window') issues.push({ path: key.slice(0, 100), message: 'is not a parameter of the metrics (window)' });
  const values = q.getAll('window');
  let windowS = defaultS;
  if (values.length > 1) issues.push({ path: 'window', message: 'must be given once' });
  else if (values.length === 1) {
    const m = /^([0-9]{1,6})([mhd])$/.exec(values[0]!);
    const s = m ? Number(m[1]) * UNIT_S[m[2] as keyof typeof UNIT_S] : NaN;
    if (!m) issues.push({ path: 'window', message: 'must be a whole number of minutes, hours or days: 30m, 24h, 7d' });
    else if (s < MIN_WINDOW_S || s > MAX_WINDOW_S) issues.push({ path: 'window', message: 'must be between 1m and 31d' });
    else windowS = s;
  }
  if (issues.length) throw new ValidationError('invalid query', issues);
  return { windowS };
}

export const METRICS_ROUTES: readonly Route<MetricsApiDeps>[] = Object.freeze([
  route('GET', '/metrics', 'viewer', 'Prometheus text format 0.0.4: runs, outcomes, latency and duration histograms, retries, MTTR, cost, policy blocks, approvals, active runs per limit; ?window=24h', async ({ deps, req }: Ctx) => {
    const { windowS } = parseMetricsQuery(req.query, deps.config.metrics.windowS);
    const snapshot = await collectMetrics(deps.sql, deps.config, windowS);
    return { status: 200, headers: { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' }, body: renderPrometheus(snapshot.families) };
  }),
  route('GET', '/v1/metrics', 'viewer', 'the same metrics as JSON: {generatedAt, window, families[{name, help, type, samples}]}; ?window=24h', async ({ deps, req }: Ctx) => {
    const { windowS } = parseMetricsQuery(req.query, deps.config.metrics.windowS);
    return json(200, jsonOf(await collectMetrics(deps.sql, deps.config, windowS)), { 'cache-control': 'no-store' });
  }),
]);

/** JSON has no infinity: the last bucket's bound is the string "+Inf", as Prometheus writes it. */
function jsonOf(snapshot: MetricsSnapshot): unknown {
  const families = snapshot.families.map((f) =>
    f.type === 'gauge' ? f : { ...f, samples: f.samples.map((s) => ({ ...s, buckets: s.buckets.map((b) => ({ le: b.le === Infinity ? '+Inf' : b.le, count: b.count })) })) });
  return { ...snapshot, families };
}
