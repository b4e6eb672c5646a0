// The status function: the read API (and, as it grows, operator actions and the dashboard).
import type { Config } from '../../shared/config/index.js';
import type { Sql } from '../../shared/db/index.js';
import { NonRetriableError, NotFoundError } from '../../shared/errors/index.js';
import { errorResponse, json, requireBearer, type Handler } from '../../shared/http/index.js';
import type { Logger } from '../../shared/log/index.js';
import { getIdea, listIdeas, parseListQuery } from '../../shared/status/index.js';

export interface StatusFunctionDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'statusToken'>;
  readonly log: Logger;
}

export function createStatusHandler(deps: StatusFunctionDeps): Handler {
  return async (req) => {
    try {
      if (req.path === '/healthz') {
        await deps.sql`select 1`;
        return json(200, { ok: true });
      }
      requireBearer(req, deps.config.statusToken);
      if (req.method !== 'GET') throw new NonRetriableError('method_not_allowed', `${req.method} is not allowed on ${req.path}`);
      if (req.path === '/v1/ideas') return json(200, await listIdeas(deps.sql, parseListQuery(req.query)));
      const m = /^\/v1\/ideas\/([^/]+)$/.exec(req.path);
      if (m) {
        const detail = await getIdea(deps.sql, decodeURIComponent(m[1]!));
        if (!detail) throw new NotFoundError(`no idea ${m[1]}`);
        return json(200, detail);
      }
      throw new NotFoundError(`no route ${req.method} ${req.path}`);
    } catch (err) {
      return errorResponse(err, deps.log);
    }
  };
}
