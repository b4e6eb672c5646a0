// High risk → a human: idea labels, plan tasks marked `risk: high` (when `planRisk`), and
// changed paths matching `sensitivePaths` (auth, secrets, migrations, CI config), at the
// checkpoints the pack lists (pre-merge, pre-deploy). After an implementation run the
// sensitive paths it touched are recorded (`skip`: the approval is asked where listed).
import { matcher, touched, unusable, type Rule, type RuleVerdict } from './context.js';

export const highRisk: Rule<'highRisk'> = {
  name: 'highRisk',
  checkpoints: ['post-implementation', 'pre-merge', 'pre-deploy'],
  evaluate(ctx, cfg) {
    const out: RuleVerdict[] = [];
    const reasons: string[] = [];
    const labels = ctx.idea.labels.map((l) => l.toLowerCase()).filter((l) => cfg.labels.includes(l));
    if (labels.length > 0) reasons.push(`label(s) ${labels.join(', ')}`);
    const riskyTasks = cfg.planRisk ? ctx.planTasks.filter((t) => t.risk === 'high').map((t) => t.key) : [];
    if (riskyTasks.length > 0) reasons.push(`plan task(s) ${riskyTasks.join(', ')} marked risk: high`);
    const sensitive = new Set<string>();
    if (cfg.sensitivePaths.length > 0) {
      const isSensitive = matcher(cfg.sensitivePaths);
      for (const run of ctx.runs) {
        if (!run.diffStats.ok) {
          out.push(unusable('highRisk', run, 'diff-stats', run.diffStats.problem));
          continue;
        }
        for (const p of touched(run.diffStats.value)) if (isSensitive(p)) sensitive.add(p);
      }
      if (sensitive.size > 0) reasons.push(`sensitive path(s) changed: ${[...sensitive].sort().slice(0, 20).join(', ')}`);
    }
    const properties = { labels, riskyTasks, sensitivePaths: [...sensitive].sort() };
    const listed = (cfg.checkpoints as readonly string[]).includes(ctx.checkpoint);
    if (!listed) {
      out.push({ rule: 'highRisk', outcome: 'skip', properties, message: reasons.length ? `high risk (${reasons.join('; ')}): a human approves at ${cfg.checkpoints.join(', ')}` : 'nothing high-risk so far' });
      return out;
    }
    out.push(reasons.length === 0
      ? { rule: 'highRisk', outcome: 'pass', properties, message: 'nothing high-risk' }
      : { rule: 'highRisk', outcome: 'fail', approvable: true, properties, message: `high risk needs a human before ${ctx.checkpoint}: ${reasons.join('; ')}`, suggestedFix: 'a human reviews the change and approves' });
    return out;
  },
};
