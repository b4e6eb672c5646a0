// The policy function: evaluates the effective policy for an idea at a checkpoint and
// records the findings (the lifecycle calls the same library at pre-merge and pre-deploy).
//   POST /v1/evaluate {"ideaId","checkpoint"}   GET /v1/ideas/{id}/checks   GET /v1/policy
import { z } from 'zod';
import type { Config } from '../../shared/config/index.js';
import type { Sql } from '../../shared/db/index.js';
import { NonRetriableError, NotFoundError } from '../../shared/errors/index.js';
import { errorResponse, json, pathParam, requireBearer, type Handler } from '../../shared/http/index.js';
import type { Logger } from '../../shared/log/index.js';
import { CHECKPOINTS, effectivePolicy, evaluatePolicy, listChecks } from '../../shared/policy/index.js';
import { isUuid, parseJsonWith } from '../../shared/validation/index.js';

export interface PolicyFunctionDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'policy' | 'statusToken'>;
  readonly log: Logger;
}

const evaluateSchema = z.object({ ideaId: z.string().uuid(), checkpoint: z.enum(CHECKPOINTS) });

export function createPolicyHandler(deps: PolicyFunctionDeps): Handler {
  return async (req) => {
    if (req.path === '/healthz') return json(200, { ok: true });
    try {
      requireBearer(req, deps.config.statusToken);
      if (req.path === '/v1/policy' && req.method === 'GET') {
        const { policy, hash } = effectivePolicy(deps.config);
        return json(200, { policy, effectivePolicyHash: hash });
      }
      if (req.path === '/v1/evaluate') {
        if (req.method !== 'POST') throw new NonRetriableError('method_not_allowed', 'POST {"ideaId","checkpoint"}');
        const { ideaId, checkpoint } = parseJsonWith(req.body, evaluateSchema, 'evaluation request');
        return json(200, await evaluatePolicy(deps.sql, deps.config, ideaId, checkpoint));
      }
      const m = /^\/v1\/ideas\/([^/]+)\/checks$/.exec(req.path);
      if (m && req.method === 'GET') {
        const id = pathParam(m[1]!);
        if (!isUuid(id)) throw new NotFoundError(`no idea ${id}`);
        return json(200, { items: await listChecks(deps.sql, id) });
      }
      throw new NotFoundError(`no route ${req.method} ${req.path}`);
    } catch (err) {
      return errorResponse(err, deps.log);
    }
  };
}
