// What every part of the knowledge base is given, and the shape of one step of the KB's
// background pass (shared/kb/pass.ts runs its steps in order, each doing what is due and
// saying how much it did). Steps never run on a callback's path.
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import type { Logger } from '../log/index.js';
import type { Embedder } from './embed/types.js';

export interface KbDeps {
  readonly sql: Sql;
  readonly log: Logger;
  readonly config: Config;
  /** The embedder of the configured version (the one new vectors are made with). */
  readonly embedder: Embedder;
  /** The clock (tests move it: the daily trigger's day, backoffs). */
  readonly now?: () => Date;
}

/** One step of the pass: does what is due, returns how many items it handled. */
export type KbStep = (deps: KbDeps) => Promise<number>;
