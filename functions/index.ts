// The functions this image serves, by FUNCTION_TARGET name. Each entry loads its module
// only when asked (a Knative Service runs one function: intake never loads the Kubernetes
// client, which keeps cold starts short) and builds its handler from the dependencies the
// composition root (functions/server.ts, shared/local/) made once.
import type { Config } from '../shared/config/index.js';
import type { Sql } from '../shared/db/index.js';
import type { WorkflowBackend } from '../shared/dispatch/index.js';
import type { Handler } from '../shared/http/index.js';
import type { Logger } from '../shared/log/index.js';
import type { Notifications } from '../shared/notify/index.js';
import type { Publisher } from '../shared/outbox/index.js';

export interface FunctionDeps {
  readonly sql: Sql;
  readonly config: Config;
  readonly log: Logger;
  /** Argo (or local mode's runner): dispatch and callbacks submit, status cancels. */
  readonly workflows?: WorkflowBackend;
  /** Base URL of the callbacks function as workflow steps reach it. */
  readonly callbackBaseUrl?: string;
  readonly publisher?: Publisher;
  /** Local mode's notifiers, which its own timer nudges too; dispatch makes them otherwise. */
  readonly notifications?: Notifications;
}

function needs(d: FunctionDeps, name: string): FunctionDeps & { workflows: WorkflowBackend; callbackBaseUrl: string } {
  if (!d.workflows) throw new Error(`${name} needs a workflow backend (Kubernetes config, or local mode)`);
  if (!d.callbackBaseUrl) throw new Error(`${name} needs FACTEUR_PUBLIC_URL (the callbacks function's URL as Argo steps reach it)`);
  return d as FunctionDeps & { workflows: WorkflowBackend; callbackBaseUrl: string };
}

// Each function's module, loaded once: the composition root may start loading it while it
// connects and migrates (preloadFunction), and FUNCTIONS uses the same import.
const MODULES = {
  intake: () => import('./intake/index.js'),
  status: () => import('./status/index.js'),
  dispatch: () => import('./dispatch/index.js'),
  callbacks: () => import('./callbacks/index.js'),
  policy: () => import('./policy/index.js'),
};

export const FUNCTIONS = {
  intake: async (d: FunctionDeps) => (await MODULES.intake()).createIntakeHandler(d),
  status: async (d: FunctionDeps) => (await MODULES.status()).createStatusHandler(d),
  dispatch: async (d: FunctionDeps) => (await MODULES.dispatch()).createDispatchHandler(needs(d, 'dispatch')),
  callbacks: async (d: FunctionDeps) => (await MODULES.callbacks()).createCallbacksHandler(needs(d, 'callbacks')),
  policy: async (d: FunctionDeps) => (await MODULES.policy()).createPolicyHandler(d),
} satisfies Record<string, (d: FunctionDeps) => Promise<Handler>>;

export type FunctionName = keyof typeof FUNCTIONS;

/** Functions that create or delete workflows. */
export const USES_WORKFLOWS: readonly FunctionName[] = ['dispatch', 'callbacks', 'status'];

/**
 * Starts loading a function's module; its failure, if any, is FUNCTIONS[name]'s to report.
 * A cold start's database round trips then overlap the module's loading (functions/server.ts).
 */
export function preloadFunction(name: FunctionName): void {
  MODULES[name]().catch(() => undefined);
}

export function isFunctionName(name: string): name is FunctionName {
  return Object.hasOwn(FUNCTIONS, name);
}
