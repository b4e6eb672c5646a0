// The status API's routes, once: method, path, the role each needs, what it does, and its
// handler. The function's index (`GET /`) and local mode's home page list them from here, so
// the documentation a client reads cannot drift from what is served and guarded.
// Adding a route is one line here (or one entry in a table spread below, like the policy API).
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import { NotFoundError, ValidationError } from '../errors/index.js';
import { json, type HttpResponse } from '../http/index.js';
import { docsOf, route, type Route, type RouteContext, type RouteDoc } from '../http/router.js';
import type { Logger } from '../log/index.js';
import { z } from 'zod';
import { listApprovals, parseApprovalQuery, type Decision } from '../approvals/index.js';
import { decideApproval, operate, type Action } from '../operator/index.js';
import { parseJsonWith } from '../validation/index.js';
import { POLICY_API_ROUTES } from '../policy/api.js';
import { METRICS_ROUTES } from '../metrics/routes.js';
import { KB_COCKPIT_ROUTES } from '../kb/cockpit-routes.js';
import { NOTIFY_ROUTES } from '../notify/routes.js';
import { KB_RETRIEVE_ROUTES } from '../kb/retrieve-api.js';
import { KB_LEARN_ROUTES } from '../kb/learn-routes.js';
import { getDeadLetter, listDeadLetters, parseDeadLetterQuery } from './dead-letters.js';
import { getIdea, getRun, listCosts, listIdeas, parseCostQuery, parseListQuery } from './index.js';

export interface StatusDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'lifecycle' | 'topics' | 'limits' | 'metrics' | 'kbCockpit' | 'kbLearn'>;
  readonly log: Logger;
  /** For cancel: running workflows are deleted. */
  readonly workflows?: { delete(name: string): Promise<boolean> };
  /** How callers authenticate, for the index. */
  readonly authMode: string;
}

/** The optional `{"reason": "…"}` body of an action. */
function reasonOf(body: Buffer): string | undefined {
  if (!body.length) return undefined;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { reason?: unknown };
    return typeof parsed?.reason === 'string' ? parsed.reason.slice(0, 1000) : undefined;
  } catch {
    throw new ValidationError('body must be JSON like {"reason": "…"} or empty', [{ path: 'body', message: 'not valid JSON' }]);
  }
}

const found = (what: string, id: string, value: unknown): HttpResponse => {
  if (value === undefined) throw new NotFoundError(`no ${what} ${id.slice(0, 40)}`);
  return json(200, value);
};

type Ctx = RouteContext<StatusDeps>;

const voteBody = z.strictObject({ decision: z.enum(['approve', 'reject']), reason: z.string().max(1000).optional() });

export const STATUS_HANDLERS: readonly Route<StatusDeps>[] = Object.freeze([
  route('GET', '/', 'public', 'this index of the status API, with the role each route needs', async ({ deps }: Ctx) =>
    json(200, { service: 'facteur status API', auth: deps.authMode, routes: STATUS_ROUTES })),
  route('GET', '/healthz', 'public', 'liveness probe', async () => json(200, { ok: true })),
  route('GET', '/v1/ideas', 'viewer', 'ideas, newest first; ?status=&repository=&limit=&cursor=', async ({ deps, req }: Ctx) =>
    json(200, await listIdeas(deps.sql, parseListQuery(req.query)))),
  route('GET', '/v1/ideas/{id}', 'viewer', 'one idea with its tasks, runs, events, findings and approvals', async ({ deps, params }: Ctx) =>
    found('idea', params.id!, await getIdea(deps.sql, params.id!))),
  route('POST', '/v1/ideas/{id}/{pause|resume|cancel|retry}', 'operator', 'operator actions; body optional {"reason":"…"}', async ({ deps, req, params, principal }: Ctx) =>
    json(200, await operate(deps, params.id!, params.action as Action, principal.actor, reasonOf(req.body)))),
  route('GET', '/v1/approvals', 'viewer', 'approvals in one state, newest first, with their votes and tally; ?state=pending|approved|rejected|expired&limit=', async ({ deps, req }: Ctx) =>
    json(200, await listApprovals(deps.sql, parseApprovalQuery(req.query)))),
  route('POST', '/v1/approvals/{id}/votes', 'approver', 'vote as the caller: {"decision":"approve"|"reject","reason"?:"…"}; answers counted or refused (why) and the approval\'s state', async ({ deps, req, params, principal }: Ctx) => {
    const vote = parseJsonWith(req.body, voteBody, 'vote');
    return json(200, await decideApproval(deps, params.id!, vote.decision, principal, vote.reason, principal.actor));
  }),
  route('POST', '/v1/approvals/{id}/{approve|reject}', 'approver', 'the same vote, by path; body optional {"reason":"…"}', async ({ deps, req, params, principal }: Ctx) =>
    json(200, await decideApproval(deps, params.id!, params.action as Decision, principal, reasonOf(req.body), principal.actor))),
  route('GET', '/v1/costs', 'viewer', 'cost per repository per UTC day and per stage; ?repository=&since=YYYY-MM-DD', async ({ deps, req }: Ctx) =>
    json(200, await listCosts(deps.sql, parseCostQuery(req.query)))),
  route('GET', '/v1/runs/{id}', 'viewer', 'one run with its events and artifacts', async ({ deps, params }: Ctx) =>
    found('run', params.id!, await getRun(deps.sql, params.id!))),
  // refused deliveries keep whatever a sender sent, credentials pasted by mistake included
  route('GET', '/v1/dead-letters', 'operator', 'refused deliveries, newest first; ?function=&reason=&limit=&cursor=', async ({ deps, req }: Ctx) =>
    json(200, await listDeadLetters(deps.sql, parseDeadLetterQuery(req.query)))),
  route('GET', '/v1/dead-letters/{id}', 'operator', 'one refused delivery with its whole stored payload', async ({ deps, params }: Ctx) =>
    found('dead letter', params.id!, await getDeadLetter(deps.sql, params.id!))),
  ...POLICY_API_ROUTES,
  ...METRICS_ROUTES,
  ...KB_COCKPIT_ROUTES,
  ...NOTIFY_ROUTES,
  ...KB_RETRIEVE_ROUTES,
  ...KB_LEARN_ROUTES,
]);

export type StatusRoute = RouteDoc;
export const STATUS_ROUTES: readonly StatusRoute[] = Object.freeze(docsOf(STATUS_HANDLERS));
