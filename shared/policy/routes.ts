// The policy function's routes, with the role each needs (the status API's twin): the
// evaluation the lifecycle also calls as a library, and the policy API (shared/policy/api.ts).
// Adding a route is one line here.
import { z } from 'zod';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import { NotFoundError } from '../errors/index.js';
import { json } from '../http/index.js';
import { docsOf, route, type Route, type RouteContext, type RouteDoc } from '../http/router.js';
import type { Logger } from '../log/index.js';
import { isUuid, parseJsonWith } from '../validation/index.js';
import { POLICY_API_ROUTES } from './api.js';
import { CHECKPOINTS, effectivePolicy, evaluatePolicy, listChecks } from './index.js';

export interface PolicyDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'policy'>;
  readonly log: Logger;
  readonly authMode: string;
}

type Ctx = RouteContext<PolicyDeps>;

const evaluateSchema = z.object({ ideaId: z.string().uuid(), checkpoint: z.enum(CHECKPOINTS) });

export const POLICY_HANDLERS: readonly Route<PolicyDeps>[] = Object.freeze([
  route('GET', '/', 'public', 'this index of the policy API, with the role each route needs', async ({ deps }: Ctx) =>
    json(200, { service: 'facteur policy API', auth: deps.authMode, routes: POLICY_ROUTES })),
  route('GET', '/healthz', 'public', 'liveness probe', async () => json(200, { ok: true })),
  route('GET', '/v1/policy', 'viewer', 'the policy in force and its hash', async ({ deps }: Ctx) => {
    const { policy, hash } = effectivePolicy(deps.config);
    return json(200, { policy, effectivePolicyHash: hash });
  }),
  // evaluating records findings: an operator's act, like the lifecycle's own checkpoints
  route('POST', '/v1/evaluate', 'operator', 'evaluate an idea at a checkpoint: {"ideaId","checkpoint"}', async ({ deps, req }: Ctx) => {
    const { ideaId, checkpoint } = parseJsonWith(req.body, evaluateSchema, 'evaluation request');
    return json(200, await evaluatePolicy(deps.sql, deps.config, ideaId, checkpoint));
  }),
  route('GET', '/v1/ideas/{id}/checks', 'viewer', "an idea's policy checks", async ({ deps, params }: Ctx) => {
    if (!isUuid(params.id!)) throw new NotFoundError(`no idea ${params.id!.slice(0, 40)}`);
    return json(200, { items: await listChecks(deps.sql, params.id!) });
  }),
  ...POLICY_API_ROUTES,
]);

export const POLICY_ROUTES: readonly RouteDoc[] = Object.freeze(docsOf(POLICY_HANDLERS));
