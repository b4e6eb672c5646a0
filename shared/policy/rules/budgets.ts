// Token and cost budgets at the checkpoints that follow spend (plan, pre-merge, pre-deploy):
// what the idea and its repository have committed so far against their limits, as findings.
// The guarantee itself is kept before spend, at the claim (shared/policy/budgets.ts and the
// claim function): this rule only shows where an idea stands, and warns from `warnAt`.
import { budgetVerdicts } from '../budgets.js';
import type { Rule } from './context.js';

export const budgets: Rule<'budgets'> = {
  name: 'budgets',
  checkpoints: ['plan', 'pre-merge', 'pre-deploy'],
  evaluate(ctx, cfg) {
    if (!ctx.spend) return [{ rule: 'budgets', outcome: 'skip', message: 'spend is not read at this checkpoint' }];
    const verdicts = budgetVerdicts({
      rule: cfg, ideaBudget: ctx.spend.ideaBudget, repository: ctx.idea.repository,
      idea: ctx.spend.idea, repositoryToday: ctx.spend.repositoryToday,
    });
    // as at the claim, an exhausted budget is not a human's to wave through: the budget is raised
    return verdicts.map((v) => (v.outcome === 'fail' ? { ...v, approvable: false } : v));
  },
};
