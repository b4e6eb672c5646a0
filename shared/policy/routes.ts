// The policy function's routes, with the role each needs (the status API's twin): the
// evaluation the lifecycle also calls as a library, and the policy API (shared/policy/api.ts).
// Adding a route is one line here.
import { z } from 'zod';
import type { Config } from '../config/index.js';
import { transaction, type Sql } from '../db/index.js';
import { NotFoundError, ValidationError } from '../errors/index.js';
import { json } from '../http/index.js';
import { docsOf, route, type Route, type RouteContext, type RouteDoc } from '../http/router.js';
import type { Logger } from '../log/index.js';
import { isUuid, parseJsonWith, repository, zodIssues } from '../validation/index.js';
import { POLICY_API_ROUTES } from './api.js';
import { CHECKPOINTS, effectivePolicyFor, evaluateCheckpoint, listFindings } from './index.js';

export interface PolicyDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'lifecycle'>;
  readonly log: Logger;
  readonly authMode: string;
}

type Ctx = RouteContext<PolicyDeps>;

const evaluateSchema = z.strictObject({
  ideaId: z.uuid(),
  checkpoint: z.enum(CHECKPOINTS),
  taskId: z.uuid().nullish(),
  runId: z.uuid().nullish(),
});

export const POLICY_HANDLERS: readonly Route<PolicyDeps>[] = Object.freeze([
  route('GET', '/', 'public', 'this index of the policy API, with the role each route needs', async ({ deps }: Ctx) =>
    json(200, { service: 'facteur policy API', auth: deps.authMode, routes: POLICY_ROUTES })),
  route('GET', '/healthz', 'public', 'liveness probe', async () => json(200, { ok: true })),
  route('GET', '/v1/policy', 'viewer', 'the policy in force for ?repository=owner/name: document, hash, chain', async ({ deps, req }: Ctx) => {
    const repo = repository.safeParse(req.query.get('repository') ?? '');
    if (!repo.success) throw new ValidationError('GET /v1/policy?repository=owner/name', zodIssues(repo.error, 'repository'));
    const eff = await effectivePolicyFor(deps.sql, repo.data);
    return json(200, { repository: eff.repositoryPolicy.repository, policy: eff.document, effectivePolicyHash: eff.hash, chain: eff.chain, repositoryPolicy: eff.repositoryPolicy });
  }),
  // evaluating records findings: an operator's act, like the lifecycle's own checkpoints; the
  // decision is returned, not applied (the lifecycle applies it at its own checkpoints)
  route('POST', '/v1/evaluate', 'operator', 'evaluate an idea at a checkpoint: {"ideaId","checkpoint","taskId"?,"runId"?}', async ({ deps, req }: Ctx) => {
    const input = parseJsonWith(req.body, evaluateSchema, 'evaluation request');
    const ev = await transaction(deps.sql, [`idea:${input.ideaId}`], (tx) => evaluateCheckpoint(tx, { config: deps.config }, input));
    return json(200, {
      evaluationId: ev.evaluationId, checkpoint: ev.checkpoint, decision: ev.decision, reason: ev.reason,
      effectivePolicyHash: ev.hash, summary: ev.summary, findings: ev.findings,
    });
  }),
  route('GET', '/v1/ideas/{id}/checks', 'viewer', "every finding of an idea, oldest first", async ({ deps, params }: Ctx) => {
    if (!isUuid(params.id!)) throw new NotFoundError(`no idea ${params.id!.slice(0, 40)}`);
    return json(200, { items: await listFindings(deps.sql, params.id!) });
  }),
  ...POLICY_API_ROUTES,
]);

export const POLICY_ROUTES: readonly RouteDoc[] = Object.freeze(docsOf(POLICY_HANDLERS));
