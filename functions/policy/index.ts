// The policy function: evaluates the effective policy for an idea at a checkpoint and
// records the findings (the lifecycle calls the same library at pre-merge and pre-deploy),
// and serves the policy API; every route behind the role shared/policy/routes.ts names.
import { createIdentifier } from '../../shared/auth/principal.js';
import type { Config } from '../../shared/config/index.js';
import type { Sql } from '../../shared/db/index.js';
import type { Handler } from '../../shared/http/index.js';
import { createRouter } from '../../shared/http/router.js';
import { traceHandler } from '../../shared/telemetry/http.js';
import type { Logger } from '../../shared/log/index.js';
import { POLICY_HANDLERS } from '../../shared/policy/routes.js';

export interface PolicyFunctionDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'lifecycle' | 'statusToken' | 'api'>;
  readonly log: Logger;
}

export function createPolicyHandler(deps: PolicyFunctionDeps): Handler {
  const identifier = createIdentifier(deps.config);
  // one span per request; the route table's paths carry ids, so the span is named by the function
  return traceHandler('policy', createRouter(POLICY_HANDLERS, { ...deps, authMode: identifier.mode }, { identifier, log: deps.log }));
}
