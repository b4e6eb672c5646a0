// The learning loop's public surface. Its steps (pairs, then the daily trigger) run in the
// KB's background pass (listed in shared/kb/knowledge.ts); in a cluster the daily trigger also
// comes from its PingSource (dispatch's POST /kb/finetune), and whichever fires first wins the day.
export { assemblePairs } from './pairs.js';
export { finetuneStep, requestFinetune, FINETUNE_EVENT } from './finetune.js';
export { exportPairs, parsePairQuery } from './pairs-export.js';
export { evaluateRecall } from './evaluate.js';
export { labeledSet } from './labeled.js';
export { promote, type PromotionRequest, type PromotionDecision } from './promote.js';
export { embedderResolver, runReembed, startReembed, getReembedJob } from './reembed.js';
export { KB_LEARN_ROUTES } from './learn-routes.js';
