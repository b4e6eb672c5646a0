// The policy function: the policy engine over HTTP (shared/policy), behind the status token.
//   POST /v1/evaluate {"ideaId","checkpoint","taskId"?,"runId"?}   evaluates and records the
//        findings (history kept); the decision is returned, not applied — the lifecycle
//        applies it at its own checkpoints
//   GET  /v1/policy?repository=owner/name   the effective policy: document, hash, chain
//   GET  /v1/ideas/{id}/checks              every finding of an idea, oldest first
import { z } from 'zod';
import type { Config } from '../../shared/config/index.js';
import { transaction, type Sql } from '../../shared/db/index.js';
import { NonRetriableError, NotFoundError, ValidationError } from '../../shared/errors/index.js';
import { errorResponse, json, pathParam, requireBearer, type Handler } from '../../shared/http/index.js';
import type { Logger } from '../../shared/log/index.js';
import { CHECKPOINTS, effectivePolicyFor, evaluateCheckpoint, listFindings } from '../../shared/policy/index.js';
import { isUuid, parseJsonWith, repository, zodIssues } from '../../shared/validation/index.js';

export interface PolicyFunctionDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'lifecycle' | 'statusToken'>;
  readonly log: Logger;
}

const evaluateSchema = z.strictObject({
  ideaId: z.uuid(),
  checkpoint: z.enum(CHECKPOINTS),
  taskId: z.uuid().nullish(),
  runId: z.uuid().nullish(),
});

export function createPolicyHandler(deps: PolicyFunctionDeps): Handler {
  return async (req) => {
    if (req.path === '/healthz') return json(200, { ok: true });
    try {
      requireBearer(req, deps.config.statusToken);
      if (req.path === '/v1/policy' && req.method === 'GET') {
        const repo = repository.safeParse(req.query.get('repository') ?? '');
        if (!repo.success) throw new ValidationError('GET /v1/policy?repository=owner/name', zodIssues(repo.error, 'repository'));
        const eff = await effectivePolicyFor(deps.sql, repo.data);
        return json(200, { repository: eff.repositoryPolicy.repository, policy: eff.document, effectivePolicyHash: eff.hash, chain: eff.chain, repositoryPolicy: eff.repositoryPolicy });
      }
      if (req.path === '/v1/evaluate') {
        if (req.method !== 'POST') throw new NonRetriableError('method_not_allowed', 'POST {"ideaId","checkpoint"}');
        const input = parseJsonWith(req.body, evaluateSchema, 'evaluation request');
        const ev = await transaction(deps.sql, [`idea:${input.ideaId}`], (tx) => evaluateCheckpoint(tx, { config: deps.config }, input));
        return json(200, {
          evaluationId: ev.evaluationId, checkpoint: ev.checkpoint, decision: ev.decision, reason: ev.reason,
          effectivePolicyHash: ev.hash, summary: ev.summary, findings: ev.findings,
        });
      }
      const m = /^\/v1\/ideas\/([^/]+)\/checks$/.exec(req.path);
      if (m && req.method === 'GET') {
        const id = pathParam(m[1]!);
        if (!isUuid(id)) throw new NotFoundError(`no idea ${id}`);
        return json(200, { items: await listFindings(deps.sql, id) });
      }
      throw new NotFoundError(`no route ${req.method} ${req.path}`);
    } catch (err) {
      return errorResponse(err, deps.log);
    }
  };
}
