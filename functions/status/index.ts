// The status function: the people's API — reading ideas, runs and findings, operator
// actions, approvals, and the policy API — every route behind the role its table names
// (shared/status/routes.ts), for the caller shared/auth/principal.ts verified.
import { createIdentifier } from '../../shared/auth/principal.js';
import type { Config } from '../../shared/config/index.js';
import type { Sql } from '../../shared/db/index.js';
import type { Handler } from '../../shared/http/index.js';
import { createRouter } from '../../shared/http/router.js';
import { traceHandler } from '../../shared/telemetry/http.js';
import type { Logger } from '../../shared/log/index.js';
import { STATUS_HANDLERS } from '../../shared/status/routes.js';
import { createDashboard } from '../../shared/dashboard/index.js';

export interface StatusFunctionDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'statusToken' | 'api' | 'lifecycle' | 'topics' | 'dashboard' | 'databaseUrl' | 'limits' | 'metrics' | 'kbCockpit' | 'kbLearn'>;
  readonly log: Logger;
  /** For cancel: running workflows are deleted. */
  readonly workflows?: { delete(name: string): Promise<boolean> };
}

export function createStatusHandler(deps: StatusFunctionDeps): Handler {
  const identifier = createIdentifier(deps.config);
  // the dashboard (shared/dashboard) beside the API: its own route table under /ui/
  const dashboard = createDashboard(deps, identifier);
  const router = createRouter([...STATUS_HANDLERS, ...dashboard.routes], { ...deps, authMode: identifier.mode }, { identifier: dashboard.identifier, log: deps.log });
  // one span per request; the route table's paths carry ids, so the span is named by the function
  return traceHandler('status', dashboard.wrap(router));
}
