// The learning loop's steps of the KB's background pass (shared/kb/pass.ts runs them after
// its own, in this order: pairs first, so the day's trigger counts what this pass assembled).
// Local mode runs the pass from its tick; in a cluster the daily trigger also comes from its
// PingSource (dispatch's POST /kb/finetune), and whichever fires first wins the day.
import type { KbStep } from './deps.js';
import { finetuneStep } from './finetune.js';
import { assemblePairs } from './pairs.js';

export const KB_LEARN_STEPS: readonly KbStep[] = Object.freeze([assemblePairs, finetuneStep]);

export { assemblePairs } from './pairs.js';
export { finetuneStep, requestFinetune, FINETUNE_EVENT } from './finetune.js';
export { exportPairs, parsePairQuery } from './pairs-export.js';
export { evaluateRecall } from './evaluate.js';
export { labeledSet } from './labeled.js';
export { promote, type PromotionRequest, type PromotionDecision } from './promote.js';
export { embedderResolver, runReembed, startReembed, getReembedJob } from './reembed.js';
export { KB_LEARN_ROUTES } from './learn-routes.js';
