// Churn limits: lines added + removed per task (each run's `diff-stats`) and per idea (the
// latest run of every implementation task, summed). A large change is not wrong, but a
// human should look at it: an enforced failure asks for an approval.
import { unusable, type Rule, type RuleVerdict, type RunFacts } from './context.js';

const linesOf = (run: RunFacts) => (run.diffStats.ok ? run.diffStats.value.added + run.diffStats.value.removed : 0);

export const churn: Rule<'churn'> = {
  name: 'churn',
  checkpoints: ['post-implementation', 'pre-merge'],
  evaluate(ctx, cfg) {
    const perTask = cfg.maxLinesPerTask;
    const perIdea = cfg.maxLinesPerIdea;
    if (perTask === undefined && perIdea === undefined) return [{ rule: 'churn', outcome: 'skip', message: 'no churn limit set' }];
    const out: RuleVerdict[] = [];
    for (const run of ctx.runs) {
      if (!run.diffStats.ok) {
        out.push(unusable('churn', run, 'diff-stats', run.diffStats.problem));
        continue;
      }
      if (perTask === undefined) continue;
      const lines = linesOf(run);
      const properties = { runId: run.runId, taskKey: run.taskKey, lines, limit: perTask, scope: 'task' };
      out.push(lines <= perTask
        ? { rule: 'churn', outcome: 'pass', properties, message: `task ${run.taskKey}: ${lines} lines changed (limit ${perTask})` }
        : { rule: 'churn', outcome: 'fail', approvable: true, properties, message: `task ${run.taskKey}: ${lines} lines changed, over the limit of ${perTask} per task`, suggestedFix: 'split the task in the plan, or a human approves the size' });
    }
    if (perIdea !== undefined && ctx.ideaRuns.length > 0) {
      // a run whose diff-stats is unusable is reported above (or at its own checkpoint); the rest still count
      const lines = ctx.ideaRuns.reduce((n, r) => n + linesOf(r), 0);
      const properties = { lines, limit: perIdea, scope: 'idea', tasks: ctx.ideaRuns.map((r) => r.taskKey) };
      out.push(lines <= perIdea
        ? { rule: 'churn', outcome: 'pass', properties, message: `the idea changes ${lines} lines so far (limit ${perIdea})` }
        : { rule: 'churn', outcome: 'fail', approvable: true, properties, message: `the idea changes ${lines} lines, over the limit of ${perIdea} per idea`, suggestedFix: 'split the idea, or a human approves the size' });
    }
    return out.length > 0 ? out : [{ rule: 'churn', outcome: 'skip', message: 'no change to count yet' }];
  },
};
