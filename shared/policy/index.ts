// Policy: packs as reviewed documents (./pack.ts), the effective policy of a repository and
// an idea (./effective.ts, ./store.ts), rules as code (./rules), findings in the
// PolicyReport shape (./findings.ts) and the engine that evaluates a checkpoint
// (./evaluate.ts). The lifecycle applies the engine's decisions (shared/lifecycle/escalate.ts).
export { CHECKPOINTS, summarize, type Checkpoint, type Finding, type Summary } from './findings.js';
export { evaluateCheckpoint, listFindings, type CheckpointEvaluation, type CheckpointInput, type Decision, type EvaluateDeps } from './evaluate.js';
export { effectivePolicyFor, policyForIdea } from './store.js';
export { RULE_REGISTRY, rulesAt, BUDGETS_SLOT } from './rules/index.js';
