// The rules registry: which rule runs at which checkpoint. One module per rule, each a pure
// function from a RuleContext to verdicts; the evaluator (../evaluate.ts) judges them under
// their mode. Two of the pack's rules are not evaluated here:
//   freeze   the scheduler holds a deploy inside a window (it waits, it is not a finding)
//   budgets  before spend, at `claim` (shared/policy/budgets*.ts): BUDGETS_SLOT below is
//            where the integrator registers it for the checkpoints that report spend
import type { Checkpoint } from '../findings.js';
import type { RuleName } from '../pack.js';
import { autonomy } from './autonomy.js';
import { changeBudget } from './change-budget.js';
import { churn } from './churn.js';
import type { Rule } from './context.js';
import { highRisk } from './high-risk.js';
import { pathScope } from './path-scope.js';
import { requiredChecks } from './required-checks.js';

export { grantedLevel } from './autonomy.js';
export type { RuleContext, RunFacts, Reported, RepoLocalFacts, RuleVerdict } from './context.js';
export { repoLocalVerdicts, REPO_LOCAL_RULE } from './repo-local.js';

/** The budgets rule's place: undefined until the budgets module is wired in. */
export const BUDGETS_SLOT: Rule<'budgets'> | undefined = undefined;

export const RULE_REGISTRY: { readonly [R in RuleName]?: Rule<R> } = {
  autonomy,
  requiredChecks,
  highRisk,
  churn,
  pathScope,
  changeBudget,
  ...(BUDGETS_SLOT ? { budgets: BUDGETS_SLOT } : {}),
};

/** The rules that run at a checkpoint, in the registry's order. */
export function rulesAt(checkpoint: Checkpoint): Rule[] {
  return Object.values(RULE_REGISTRY).filter((r): r is Rule => r !== undefined && r.checkpoints.includes(checkpoint)) as Rule[];
}
