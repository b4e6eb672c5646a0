// The notifications' route in the status API (spread into shared/status/routes.ts): the
// ledger as operators need it. Operator, not viewer: last errors may name repositories and
// issues a viewer of one idea need not see.
import type { Sql } from '../db/index.js';
import { json } from '../http/index.js';
import { route, type Route, type RouteContext } from '../http/router.js';
import { listNotifications, parseNotificationQuery } from './listing.js';

export const NOTIFY_ROUTES: readonly Route<{ readonly sql: Sql }>[] = Object.freeze([
  route('GET', '/v1/notifications', 'operator', 'the notifiers\' delivery ledger, newest first (pending and failed by default, with their last error), what waits per notifier and the scopes held by a rate limit; ?state=pending,failed,sent&notifier=github|discord&limit=&cursor=',
    async ({ deps, req }: RouteContext<{ readonly sql: Sql }>) => json(200, await listNotifications(deps.sql, parseNotificationQuery(req.query)))),
]);
