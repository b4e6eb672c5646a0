// The knowledge base as the entry points run it: the configured embedder, the store's steps
// (reflect, embed) and the steps of the KB's other parts, in the order they run. Dispatch
// (functions/dispatch/index.ts) and local mode (shared/local/index.ts) both start it from
// here, so a new step is added in this one list.
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import type { Logger } from '../log/index.js';
import { configuredEmbedder } from './embed/index.js';
import { anomalyStep } from './anomaly.js';
import { finetuneStep } from './finetune.js';
import { assemblePairs } from './pairs.js';
import { scoreRetrievals } from './usefulness.js';
import { createKnowledgeBase, type KnowledgeBase, type NamedKbStep } from './pass.js';

/** The other parts' steps, run after reflect and embed (retrieval scoring, preference pairs, the daily trigger, anomaly checks). */
export const KB_STEPS: readonly NamedKbStep[] = [
  { name: 'score-retrievals', run: scoreRetrievals },
  // pairs first, so the day's fine-tune trigger counts what this pass assembled
  { name: 'preference-pairs', run: assemblePairs },
  { name: 'finetune-trigger', run: finetuneStep },
  // checks its own interval (FACTEUR_KB_ANOMALY_INTERVAL_MINUTES) under an advisory lock
  { name: 'anomaly-checks', run: anomalyStep },
];

export function knowledgeBaseFor(deps: { readonly sql: Sql; readonly log: Logger; readonly config: Config }): KnowledgeBase {
  return createKnowledgeBase({ sql: deps.sql, log: deps.log, config: deps.config, embedder: configuredEmbedder(deps.config) }, { steps: KB_STEPS });
}
