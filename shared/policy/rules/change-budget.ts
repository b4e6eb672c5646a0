// Change budgets: how many deploys a repository takes per day and per week (deploy runs
// that succeeded), and after a regression — the latest deploy of the repository was
// followed by monitoring → remediation — the next deploy needs a human (`afterRegression`).
import type { Rule, RuleVerdict } from './context.js';

export const changeBudget: Rule<'changeBudget'> = {
  name: 'changeBudget',
  checkpoints: ['pre-deploy'],
  evaluate(ctx, cfg) {
    const out: RuleVerdict[] = [];
    const d = ctx.deploys;
    if (!d) throw new Error('changeBudget runs on the deploy facts gathered at pre-deploy; none were gathered');
    const properties = { repository: ctx.idea.repository, lastDay: d.lastDay, lastWeek: d.lastWeek, deploysPerDay: cfg.deploysPerDay ?? null, deploysPerWeek: cfg.deploysPerWeek ?? null };
    const over: string[] = [];
    if (cfg.deploysPerDay !== undefined && d.lastDay >= cfg.deploysPerDay) over.push(`${d.lastDay} deploy(s) in the last 24 hours (budget ${cfg.deploysPerDay} a day)`);
    if (cfg.deploysPerWeek !== undefined && d.lastWeek >= cfg.deploysPerWeek) over.push(`${d.lastWeek} deploy(s) in the last 7 days (budget ${cfg.deploysPerWeek} a week)`);
    if (cfg.deploysPerDay !== undefined || cfg.deploysPerWeek !== undefined) {
      out.push(over.length === 0
        ? { rule: 'changeBudget', outcome: 'pass', properties, message: `${ctx.idea.repository}: ${d.lastDay} deploy(s) today, ${d.lastWeek} this week, within budget` }
        : { rule: 'changeBudget', outcome: 'fail', approvable: true, properties, message: `${ctx.idea.repository} has used its change budget: ${over.join('; ')}`, suggestedFix: 'wait for the budget to renew, or a human approves one more deploy' });
    }
    if (cfg.afterRegression === 'approval') {
      const r = d.lastRegressed;
      out.push(r === null
        ? { rule: 'changeBudget', outcome: 'pass', properties: { ...properties, lastRegressed: null }, message: `the last deploy of ${ctx.idea.repository} did not regress` }
        : {
          rule: 'changeBudget', outcome: 'fail', approvable: true, properties: { ...properties, lastRegressed: r },
          message: `the last deploy of ${ctx.idea.repository} (idea ${r.ideaId}, ${r.at}) regressed: the next deploy needs a human`,
          suggestedFix: 'a human checks the regression is understood and approves this deploy',
        });
    }
    return out.length > 0 ? out : [{ rule: 'changeBudget', outcome: 'skip', message: 'no change budget set' }];
  },
};
