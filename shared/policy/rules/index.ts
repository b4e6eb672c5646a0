// The rules registry: which rule runs at which checkpoint. One module per rule, each a pure
// function from a RuleContext to verdicts; the evaluator (../evaluate.ts) judges them under
// their mode. Two of the pack's rules are not evaluated here:
//   freeze   the scheduler holds a deploy inside a window (it waits, it is not a finding)
//   budgets  enforced before spend, at `claim` (shared/policy/budgets.ts, the claim
//            function); here (./budgets.ts) it only reports where the spend stands
import type { Checkpoint } from '../findings.js';
import type { RuleName } from '../pack.js';
import { autonomy } from './autonomy.js';
import { budgets } from './budgets.js';
import { changeBudget } from './change-budget.js';
import { churn } from './churn.js';
import type { Rule } from './context.js';
import { highRisk } from './high-risk.js';
import { intentDrift } from './intent-drift.js';
import { pathScope } from './path-scope.js';
import { requiredChecks } from './required-checks.js';

export { grantedLevel } from './autonomy.js';
export type { RuleContext, RunFacts, Reported, RepoLocalFacts, RuleVerdict } from './context.js';
export { repoLocalVerdicts, REPO_LOCAL_RULE } from './repo-local.js';

/** The budgets rule at the checkpoints that follow spend (the claim enforces it). */
export const BUDGETS_SLOT: Rule<'budgets'> = budgets;

export const RULE_REGISTRY: { readonly [R in RuleName]?: Rule<R> } = {
  autonomy,
  requiredChecks,
  highRisk,
  churn,
  pathScope,
  changeBudget,
  budgets: BUDGETS_SLOT,
  intentDrift,
};

/** The rules that run at a checkpoint, in the registry's order. */
export function rulesAt(checkpoint: Checkpoint): Rule[] {
  return (Object.values(RULE_REGISTRY) as unknown as (Rule | undefined)[]).filter((r): r is Rule => r !== undefined && r.checkpoints.includes(checkpoint));
}
