// The status function: the read API (and, as it grows, operator actions and the dashboard).
import type { Config } from '../../shared/config/index.js';
import type { Sql } from '../../shared/db/index.js';
import { NonRetriableError, NotFoundError, ValidationError } from '../../shared/errors/index.js';
import { errorResponse, json, pathParam, requireBearer, type Handler } from '../../shared/http/index.js';
import type { Logger } from '../../shared/log/index.js';
import { ACTIONS, decideApproval, operate, type Action } from '../../shared/operator/index.js';
import { getDeadLetter, getIdea, getRun, listCosts, listDeadLetters, listIdeas, parseCostQuery, parseDeadLetterQuery, parseListQuery, STATUS_ROUTES } from '../../shared/status/index.js';

export interface StatusFunctionDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'statusToken' | 'lifecycle'>;
  readonly log: Logger;
  /** For cancel: running workflows are deleted. */
  readonly workflows?: { delete(name: string): Promise<boolean> };
}

/** The optional `{"reason": "…"}` body of an action. */
function reasonOf(body: Buffer): string | undefined {
  if (!body.length) return undefined;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { reason?: unknown };
    return typeof parsed.reason === 'string' ? parsed.reason.slice(0, 1000) : undefined;
  } catch {
    throw new ValidationError('body must be JSON like {"reason": "…"} or empty', [{ path: 'body', message: 'not valid JSON' }]);
  }
}

/** Who acted: the token's holder, optionally naming the person (`X-Facteur-Actor`). */
function actorOf(headers: Readonly<Record<string, string>>, tokenSet: boolean): string {
  const who = (headers['x-facteur-actor'] ?? '').replace(/[^A-Za-z0-9@._:-]/g, '').slice(0, 100);
  const base = tokenSet ? 'status-token' : 'unauthenticated';
  return who ? `${base}:${who}` : base;
}

export function createStatusHandler(deps: StatusFunctionDeps): Handler {
  return async (req) => {
    try {
      if (req.path === '/healthz') return json(200, { ok: true });
      // the index is the route list of the README: nothing in it needs the token
      if (req.path === '/' && req.method === 'GET') {
        return json(200, { service: 'facteur status API', auth: deps.config.statusToken ? 'bearer token' : 'open', routes: STATUS_ROUTES });
      }
      requireBearer(req, deps.config.statusToken);
      const action = /^\/v1\/ideas\/([^/]+)\/([a-z]+)$/.exec(req.path);
      if (action && req.method === 'POST') {
        if (!(ACTIONS as readonly string[]).includes(action[2]!)) throw new NotFoundError(`no action ${action[2]}; one of ${ACTIONS.join(', ')}`);
        const reason = reasonOf(req.body);
        const actor = actorOf(req.headers, deps.config.statusToken !== undefined);
        return json(200, await operate(deps, pathParam(action[1]!), action[2] as Action, actor, reason));
      }
      const approval = /^\/v1\/approvals\/([^/]+)\/(approve|reject)$/.exec(req.path);
      if (approval && req.method === 'POST') {
        const note = reasonOf(req.body);
        const actor = actorOf(req.headers, deps.config.statusToken !== undefined);
        return json(200, await decideApproval(deps, pathParam(approval[1]!), approval[2] as 'approve' | 'reject', actor, note));
      }
      if (req.method !== 'GET') throw new NonRetriableError('method_not_allowed', `${req.method} is not allowed on ${req.path}`);
      const run = /^\/v1\/runs\/([^/]+)$/.exec(req.path);
      if (run) {
        const detail = await getRun(deps.sql, pathParam(run[1]!));
        if (!detail) throw new NotFoundError(`no run ${run[1]}`);
        return json(200, detail);
      }
      if (req.path === '/v1/costs') return json(200, await listCosts(deps.sql, parseCostQuery(req.query)));
      if (req.path === '/v1/dead-letters') return json(200, await listDeadLetters(deps.sql, parseDeadLetterQuery(req.query)));
      const letter = /^\/v1\/dead-letters\/([^/]+)$/.exec(req.path);
      if (letter) {
        const item = await getDeadLetter(deps.sql, pathParam(letter[1]!));
        if (!item) throw new NotFoundError(`no dead letter ${letter[1]!.slice(0, 40)}`);
        return json(200, item);
      }
      if (req.path === '/v1/ideas') return json(200, await listIdeas(deps.sql, parseListQuery(req.query)));
      const m = /^\/v1\/ideas\/([^/]+)$/.exec(req.path);
      if (m) {
        const detail = await getIdea(deps.sql, pathParam(m[1]!));
        if (!detail) throw new NotFoundError(`no idea ${m[1]}`);
        return json(200, detail);
      }
      throw new NotFoundError(`no route ${req.method} ${req.path}`);
    } catch (err) {
      return errorResponse(err, deps.log);
    }
  };
}
