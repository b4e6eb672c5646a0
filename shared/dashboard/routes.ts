// The dashboard's routes, in the status API's route table form (method, path, role, what it
// does): the router authenticates and authorizes them like every other route, with the
// session cookie understood on `/ui/` paths (session.ts). Pages are GETs a viewer may read;
// every POST checks its CSRF token first, then does what the JSON API would do.
import type { Principal } from '../auth/principal.js';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import { NotFoundError, ValidationError, type Issue } from '../errors/index.js';
import type { HttpRequest, HttpResponse } from '../http/index.js';
import { route, type Route, type RouteContext } from '../http/router.js';
import type { Logger } from '../log/index.js';
import { isUuid } from '../validation/index.js';
import { decideApproval, operate, ACTIONS, type Action } from '../operator/index.js';
import { ASSETS, ASSET_VERSION } from './assets.js';
import { loadFailures, renderFailures } from './failures.js';
import { parseList, whereOf } from './filters.js';
import { done, fields, formOf, oneOf, parseBulk, runBulk, uuidField } from './forms.js';
import { h, htmlPage, SECURITY_HEADERS, seeOther, type Page, type Viewer } from './html.js';
import { loadIdea, renderIdea } from './idea.js';
import { loadIdeas, renderBulkConfirm, renderBulkDone, renderIdeas, type IdeaRow } from './ideas.js';
import { eventStream, ANY, type LiveHub } from './live.js';
import { loadKb, loadRetrieval, renderKb } from './kb.js';
import { loadMetrics, renderMetrics } from './metrics.js';
import { loadPolicy, renderPolicy } from './policy.js';
import { loadRun, renderRun } from './run.js';
import { isHttps, type Sessions } from './session.js';
import { signInPage } from './signin.js';

export interface DashboardDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'lifecycle' | 'topics' | 'dashboard'>;
  readonly log: Logger;
  readonly workflows?: { delete(name: string): Promise<boolean> };
  readonly sessions: Sessions;
  readonly hub: LiveHub;
  /** The API runs open: no credential configured, every caller has every role. */
  readonly open: boolean;
}

type Ctx = RouteContext<unknown>;

/** Only the listed query keys, each at most once. */
function queryKeys(q: URLSearchParams, allowed: readonly string[]): Issue[] {
  const issues: Issue[] = [];
  const seen = new Set<string>();
  for (const k of q.keys()) {
    if (seen.has(k)) issues.push({ path: k.slice(0, 60), message: 'given more than once' });
    seen.add(k);
    if (!allowed.includes(k)) issues.push({ path: k.replace(/[^\x20-\x7e]/g, '?').slice(0, 60), message: 'unknown query parameter' });
  }
  return issues;
}

function idQuery(req: HttpRequest, allowed: readonly string[] = ['id']): string {
  const issues = queryKeys(req.query, allowed);
  const id = uuidField(issues, 'id', req.query.get('id') ?? undefined);
  if (issues.length) throw new ValidationError('invalid query', issues, 'invalid_query');
  return id;
}

export function dashboardRoutes(d: DashboardDeps): Route<unknown>[] {
  const links = { argoUiUrl: d.config.dashboard.argoUiUrl, traceUrl: d.config.dashboard.traceUrl };

  const viewerOf = (req: HttpRequest, p: Principal): { viewer: Viewer; cookie: Record<string, string> } => {
    const { nonce, setCookie } = d.sessions.nonceOf(req, isHttps(req));
    const session = req.headers['authorization'] === undefined && d.sessions.principalOf(req) !== undefined;
    return {
      viewer: { actor: p.actor, name: p.name, via: session ? 'session' : p.via, roles: p.roles, csrf: d.sessions.csrfToken(nonce, p.actor) },
      cookie: setCookie ? { 'set-cookie': setCookie } : {},
    };
  };
  const page = (ctx: Ctx, p: Omit<Page, 'body'>, body: Page['body'], status = 200): HttpResponse => {
    const { viewer, cookie } = viewerOf(ctx.req, ctx.principal);
    return htmlPage(status, { ...p, body }, viewer, cookie);
  };
  /** A page whose body needs the viewer (its forms carry the CSRF token). */
  const pageWith = (ctx: Ctx, p: Omit<Page, 'body'>, body: (v: Viewer) => Page['body'], status = 200): HttpResponse => {
    const { viewer, cookie } = viewerOf(ctx.req, ctx.principal);
    return htmlPage(status, { ...p, body: body(viewer) }, viewer, cookie);
  };
  const checkedForm = (ctx: Ctx): URLSearchParams => {
    const form = formOf(ctx.req);
    d.sessions.checkCsrf(ctx.req, form, ctx.principal.actor);
    return form;
  };
  const plain = (ctx: Ctx, path: string): string[] => {
    const issues = queryKeys(ctx.req.query, []);
    if (issues.length) throw new ValidationError(`${path} takes no query parameters`, issues, 'invalid_query');
    return [];
  };

  return [
    route('GET', '/ui/app.js', 'public', 'the dashboard\'s script', async () => asset('app.js')),
    route('GET', '/ui/app.css', 'public', 'the dashboard\'s stylesheet', async () => asset('app.css')),
    route('GET', '/ui/signin', 'public', 'dashboard: sign in with an API token', async (ctx: Ctx) => signInPage(d, ctx.req)),
    route('POST', '/ui/signin', 'public', 'dashboard: sign in (form: token, next); sets an HttpOnly session cookie', async (ctx: Ctx) => signInPage(d, ctx.req, checkedForm(ctx))),
    route('POST', '/ui/signout', 'viewer', 'dashboard: sign out', async (ctx: Ctx) => {
      checkedForm(ctx);
      return seeOther('signin', { 'set-cookie': d.sessions.signOutCookie(isHttps(ctx.req)) });
    }),
    route('GET', '/ui/ideas', 'viewer', 'dashboard: ideas with counts by state; ?state=&repository=&label=&q=&cursor=&limit=', async (ctx: Ctx) => {
      const p = parseList(ctx.req.query);
      const v = await loadIdeas(d.sql, p);
      return pageWith(ctx, { title: 'Ideas', nav: 'ideas', live: ANY }, (viewer) => renderIdeas(p, v, viewer));
    }),
    route('GET', '/ui/idea', 'viewer', 'dashboard: one idea — plan DAG, timeline, findings, approvals, cost, events; ?id=&dag=all', async (ctx: Ctx) => {
      const id = idQuery(ctx.req, ['id', 'dag']);
      const dag = ctx.req.query.get('dag');
      if (dag !== null && dag !== 'all') throw new ValidationError('invalid query', [{ path: 'dag', message: 'must be all' }], 'invalid_query');
      const v = await loadIdea(d.sql, id);
      if (!v) throw new NotFoundError(`no idea ${id}`);
      return pageWith(ctx, { title: String(v.detail.idea.title), nav: 'ideas', live: id }, (viewer) => renderIdea(v, viewer, links, dag === 'all'));
    }),
    // what notifiers and chat answers link to (`<FACTEUR_DASHBOARD_URL>/ideas/<id>`, the URL being …/ui)
    route('GET', '/ui/ideas/{id}', 'viewer', 'dashboard: a link to one idea; answers with its page\'s address', async (ctx: Ctx) => {
      plain(ctx, '/ui/ideas/{id}');
      const id = ctx.params.id!;
      if (!isUuid(id)) throw new ValidationError('invalid idea id', [{ path: 'id', message: 'must be a UUID' }], 'invalid_id');
      return seeOther(`../idea?id=${id}`);
    }),
    route('GET', '/ui/run', 'viewer', 'dashboard: one run — retrieved context, events, artifacts, workflow and trace links; ?id=', async (ctx: Ctx) => {
      const id = idQuery(ctx.req);
      const v = await loadRun(d.sql, id);
      if (!v) throw new NotFoundError(`no run ${id}`);
      return page(ctx, { title: `${v.run.taskKey} #${v.run.attempt}`, nav: 'ideas', live: String(v.run.ideaId) }, renderRun(v, links, await loadRetrieval(d.sql, id)));
    }),
    route('GET', '/ui/policy', 'viewer', 'dashboard: policy packs and the effective policy per repository', async (ctx: Ctx) => {
      plain(ctx, '/ui/policy');
      return page(ctx, { title: 'Policy', nav: 'policy' }, renderPolicy(await loadPolicy(d.sql)));
    }),
    route('GET', '/ui/failures', 'viewer', 'dashboard: failed runs grouped by failure signature', async (ctx: Ctx) => {
      plain(ctx, '/ui/failures');
      return page(ctx, { title: 'Failures', nav: 'failures', live: ANY }, renderFailures(await loadFailures(d.sql)));
    }),
    route('GET', '/ui/metrics', 'viewer', 'dashboard: throughput, queue latency, success rate, MTTR and spend charts', async (ctx: Ctx) => {
      plain(ctx, '/ui/metrics');
      return page(ctx, { title: 'Metrics', nav: 'metrics' }, renderMetrics(await loadMetrics(d.sql)));
    }),
    route('GET', '/ui/kb', 'viewer', 'dashboard: knowledge base health — versions, backlog, retrieval latency and hit rate, reuse, usefulness, self-checks', async (ctx: Ctx) => {
      plain(ctx, '/ui/kb');
      return page(ctx, { title: 'Knowledge base', nav: 'kb' }, renderKb(await loadKb(d.sql)));
    }),
    route('GET', '/ui/events', 'viewer', 'dashboard: Server-Sent Events, a hint when an idea (?idea=) or any idea changes', async (ctx: Ctx) => {
      const issues = queryKeys(ctx.req.query, ['idea']);
      const idea = ctx.req.query.get('idea');
      if (idea !== null) uuidField(issues, 'idea', idea);
      if (issues.length) throw new ValidationError('invalid query', issues, 'invalid_query');
      return {
        status: 200,
        headers: { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'x-accel-buffering': 'no', connection: 'keep-alive' },
        stream: (sink) => eventStream(d.hub, idea ?? ANY, sink),
      };
    }),
    route('POST', '/ui/action', 'operator', 'dashboard: pause, resume, cancel or retry one idea (form: id, action)', async (ctx: Ctx) => {
      const f = fields(checkedForm(ctx), ['id', 'action']);
      const id = uuidField(f.issues, 'id', f.get('id'));
      const action = oneOf(f.issues, 'action', f.get('action'), ACTIONS);
      done(f.issues);
      await operate(d, id, action as Action, ctx.principal.actor, `${action} from the dashboard`);
      return seeOther(`idea?id=${id}`);
    }),
    route('POST', '/ui/vote', 'approver', 'dashboard: vote on an approval as the signed-in person (form: approval, idea, decision, reason)', async (ctx: Ctx) => {
      const f = fields(checkedForm(ctx), ['approval', 'idea', 'decision', 'reason']);
      const approval = uuidField(f.issues, 'approval', f.get('approval'));
      const idea = uuidField(f.issues, 'idea', f.get('idea'));
      const decision = oneOf(f.issues, 'decision', f.get('decision'), ['approve', 'reject'] as const);
      const reason = f.get('reason')?.trim();
      if (reason && reason.length > 1000) f.issues.push({ path: 'reason', message: 'must be at most 1000 characters' });
      done(f.issues);
      const outcome = await decideApproval(d, approval, decision, ctx.principal, reason || undefined, ctx.principal.actor);
      if (outcome.counted) return seeOther(`idea?id=${idea}`);
      return page(ctx, { title: 'Vote not counted', nav: 'ideas' }, h`<h1>Your vote was not counted</h1><p class="notice">${outcome.refusedReason ?? 'refused'}</p><p><a href="idea?id=${idea}">Back to the idea</a></p>`, 409);
    }),
    route('POST', '/ui/bulk', 'operator', 'dashboard: pause, resume or cancel every idea matching a filter, after a confirmation step', async (ctx: Ctx) => {
      const b = parseBulk(checkedForm(ctx));
      if (!b.confirm) {
        const asOf = new Date().toISOString();
        const [counted, sample] = await Promise.all([
          d.sql<{ n: number }[]>`select count(*)::int as n from codex_kb.ideas where ${whereOf(d.sql, b.filter)}`,
          d.sql<IdeaRow[]>`select id, title, status, repository, labels, priority, updated_at, '' as created_text from codex_kb.ideas
                            where ${whereOf(d.sql, b.filter)} order by created_at desc, id desc limit 20`,
        ]);
        const n = counted[0]?.n ?? 0;
        return pageWith(ctx, { title: `Confirm: ${b.action}`, nav: 'ideas' }, (viewer) => renderBulkConfirm(b.filter, b.action, n, sample, asOf, viewer));
      }
      const result = await runBulk(d, b, ctx.principal.actor);
      return page(ctx, { title: `Bulk ${b.action}`, nav: 'ideas' }, renderBulkDone(b.filter, b.action, result));
    }),
  ];
}

function asset(name: keyof typeof ASSETS): HttpResponse {
  const a = ASSETS[name];
  // versioned URLs (`?v=<hash>`): a year of caching is safe, a new version is a new URL
  return { status: 200, headers: { 'content-type': a.type, 'cache-control': 'public, max-age=31536000, immutable', etag: `"${ASSET_VERSION}"`, 'x-content-type-options': 'nosniff' }, body: a.body };
}

