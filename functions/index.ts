// The functions this image serves, by FUNCTION_TARGET name. Each entry builds its handler
// from the dependencies the composition root (functions/server.ts, bin/facteur-local.ts)
// made once.
import type { Config } from '../shared/config/index.js';
import type { Sql } from '../shared/db/index.js';
import type { Handler } from '../shared/http/index.js';
import type { Logger } from '../shared/log/index.js';
import { createIntakeHandler } from './intake/index.js';
import { createStatusHandler } from './status/index.js';

export interface FunctionDeps {
  readonly sql: Sql;
  readonly config: Config;
  readonly log: Logger;
}

export const FUNCTIONS = {
  intake: (d: FunctionDeps) => createIntakeHandler(d),
  status: (d: FunctionDeps) => createStatusHandler(d),
} satisfies Record<string, (d: FunctionDeps) => Handler>;

export type FunctionName = keyof typeof FUNCTIONS;

export function isFunctionName(name: string): name is FunctionName {
  return Object.hasOwn(FUNCTIONS, name);
}
