// The web dashboard, served by the status function under `/ui/` (a browser asking for `/`
// is sent there; JSON clients still get the API index). Server-rendered HTML, live over
// Server-Sent Events fed by PostgreSQL LISTEN/NOTIFY, signed-in with an API token.
//
//   routes.ts   the route table (pages, forms, the event stream, the two static files)
//   session.ts  sign-in sessions and CSRF          live.ts  LISTEN/NOTIFY (or polling) → SSE
//   ideas.ts, idea.ts, run.ts, policy.ts, failures.ts, metrics.ts   one page each
//   dag.ts, timeline.ts, charts.ts   server-side SVG       html.ts  escaping, frame, CSP
import type { Identifier } from '../auth/principal.js';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import type { Handler, HttpRequest, HttpResponse } from '../http/index.js';
import { docsOf, type Route, type RouteDoc } from '../http/router.js';
import type { Logger } from '../log/index.js';
import { esc, h, htmlPage, prefersHtml, seeOther } from './html.js';
import { createLiveHub, type LiveHub } from './live.js';
import { dashboardRoutes } from './routes.js';
import { createSessions, withSessions } from './session.js';

export { createLiveHub, type LiveHub } from './live.js';
export { prefersHtml } from './html.js';

export interface DashboardOptions {
  readonly sql: Sql;
  readonly config: Pick<Config, 'lifecycle' | 'topics' | 'dashboard' | 'statusToken' | 'api' | 'databaseUrl'>;
  readonly log: Logger;
  readonly workflows?: { delete(name: string): Promise<boolean> };
}

export interface Dashboard {
  readonly routes: readonly Route<unknown>[];
  /** The status API's identifier, with the dashboard's session cookie understood on `/ui/`. */
  readonly identifier: Identifier;
  /** Wraps the status router: `/` for browsers, sign-in redirects, HTML error pages. */
  wrap(handler: Handler): Handler;
  readonly hub: LiveHub;
}

/** How live hints reach this instance: LISTEN, unless the database is local mode's embedded one. */
export function liveMode(config: Pick<Config, 'dashboard' | 'databaseUrl'>): 'listen' | 'poll' {
  return config.dashboard.live ?? (config.databaseUrl ? 'listen' : 'poll');
}

export function createDashboard(opts: DashboardOptions, inner: Identifier): Dashboard {
  const sessions = createSessions(opts.config, inner);
  const hub = createLiveHub({ sql: opts.sql, log: opts.log, mode: liveMode(opts.config) });
  if (!opts.config.dashboard.secret && inner.mode !== 'open') {
    opts.log.info('dashboard: FACTEUR_DASHBOARD_SECRET is not set; sign-in sessions are signed with a key of this process (they end when it stops and do not cross replicas)');
  }
  const routes = dashboardRoutes({ ...opts, sessions, hub, open: inner.mode === 'open' });
  return { routes, identifier: withSessions(inner, sessions), wrap: (handler) => wrapDashboard(handler), hub };
}

/** Where this function is mounted, as the server in front says (local mode: `/status`). */
export function prefixOf(req: HttpRequest): string {
  const p = (req.headers['x-forwarded-prefix'] ?? '').replace(/\/+$/, '');
  return /^(\/[A-Za-z0-9._~-]+){0,8}$/.test(p) ? p : '';
}

function wrapDashboard(handler: Handler): Handler {
  return async (req) => {
    const isGet = req.method === 'GET' || req.method === 'HEAD';
    if (isGet && (req.path === '/ui' || req.path === '/ui/' || (req.path === '/' && prefersHtml(req.headers['accept'])))) {
      return seeOther(`${prefixOf(req)}/ui/ideas`);
    }
    const out = await handler(req);
    if (!req.path.startsWith('/ui/') || out.status < 400) return out;
    // a page sends the person to sign in; the event stream (an EventSource) just gets its 401
    if (out.status === 401 && isGet && req.path !== '/ui/events') {
      const rest = req.path.slice('/ui/'.length);
      const q = req.query.toString();
      return seeOther(`signin?next=${encodeURIComponent(rest + (q ? `?${q}` : ''))}`);
    }
    return isHtml(out) ? out : errorPage(out);
  };
}

const isHtml = (out: HttpResponse) => (out.headers?.['content-type'] ?? '').startsWith('text/html');

/** The JSON error as a page: the same status, the message and every issue. */
function errorPage(out: HttpResponse): HttpResponse {
  const e = (out.body as { error?: { code?: string; message?: string; issues?: { path: string; message: string }[] } } | undefined)?.error;
  const body = h`<h1>${out.status} ${e?.code ?? 'error'}</h1><p class="error">${e?.message ?? 'the request failed'}</p>
${e?.issues?.length ? h`<ul class="issues">${e.issues.map((i) => h`<li><code>${i.path}</code>: ${i.message}</li>`)}</ul>` : ''}
<p><a href="ideas">Back to the ideas</a>${out.status === 401 || out.status === 403 ? h` · <a href="signin">sign in</a>` : ''}</p>`;
  const keep: Record<string, string> = {};
  for (const k of ['retry-after', 'www-authenticate']) if (out.headers?.[k]) keep[k] = out.headers[k]!;
  return htmlPage(out.status, { title: `${out.status}`, nav: 'ideas', body }, undefined, keep);
}

/** What the dashboard adds to the status API's index. */
export function dashboardDocs(routes: readonly Route<unknown>[]): RouteDoc[] {
  return docsOf(routes as readonly Route<never>[]);
}

export { esc };
