// The knowledge base's and intent discipline's read routes on the status API, spread into its
// route table (shared/status/routes.ts) like the metrics routes: role viewer, every problem of
// a query listed in a 400.
//   GET /v1/kb/health  ./health.ts's figures; ?window=24h (as /metrics: 1m…31d)
//   GET /v1/failures   failure clusters (shared/status/failures.ts); ?repository=&days=&limit=
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import { json } from '../http/index.js';
import { route, type Route, type RouteContext } from '../http/router.js';
import { parseMetricsQuery } from '../metrics/routes.js';
import { failureClusters, parseFailureQuery } from '../status/failures.js';
import { kbHealth } from './health.js';

export interface KbCockpitApiDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'kbCockpit'>;
}

type Ctx = RouteContext<KbCockpitApiDeps>;

export const KB_COCKPIT_ROUTES: readonly Route<KbCockpitApiDeps>[] = Object.freeze([
  route('GET', '/v1/kb/health', 'viewer', 'knowledge base health: reflections per version and source, embedding backlog, retrieval latency p50/p99, hit rate, reuse rate, usefulness buckets, active version, re-embed jobs, self-checks; ?window=24h', async ({ deps, req }: Ctx) => {
    const { windowS } = parseMetricsQuery(req.query, deps.config.kbCockpit.healthWindowS);
    return json(200, await kbHealth(deps.sql, windowS), { 'cache-control': 'no-store' });
  }),
  route('GET', '/v1/failures', 'viewer', 'failed runs grouped by repository, error code and facteur-agent\'s failure signature, with counts, first/last seen and the latest runs; ?repository=&days=14&limit=50', async ({ deps, req }: Ctx) => {
    const q = parseFailureQuery(req.query);
    return json(200, { days: q.days, ...(q.repository ? { repository: q.repository } : {}), items: await failureClusters(deps.sql, q) });
  }),
]);
