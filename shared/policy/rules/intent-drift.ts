// Goal drift (`intent.drift` findings): at `plan`, each task of the accepted plan (its key,
// title, description and paths); at `post-implementation`, the run's change (its task's text,
// the diff-stats' title and summary when the agent reported them, every path it touched) —
// compared with the idea's intent anchor by shared/intent/drift.ts. One verdict per
// evaluation, listing every drifting task, so a long plan makes one finding, not fifty.
// On as a warning when a pack leaves it out (`fallback`): a pack says `mode: enforce` to hold
// a drifting plan for a human (approvable: a person may decide the drift is wanted), or
// `mode: off`.
import { findDrift, type DriftSubject } from '../../intent/drift.js';
import { DRIFT_MIN_SIMILARITY } from '../pack.js';
import { touched, type Rule, type RuleConfig, type RuleContext, type RuleVerdict } from './context.js';

const text = (...parts: (string | undefined)[]) => parts.filter((p) => p && p.trim()).join('\n');

function subjects(ctx: RuleContext): DriftSubject[] {
  if (ctx.checkpoint === 'plan') {
    return ctx.planTasks.map((t) => ({ key: t.key, text: text(t.title, t.description), paths: t.paths }));
  }
  return ctx.runs.map((r) => ({
    key: r.taskKey,
    text: r.taskText ?? '',
    paths: r.diffStats.ok ? touched(r.diffStats.value) : r.taskPaths,
  }));
}

export const intentDrift: Rule<'intentDrift'> = {
  name: 'intentDrift',
  checkpoints: ['plan', 'post-implementation'],
  fallback: { mode: 'warn', severity: 'medium', minSimilarity: DRIFT_MIN_SIMILARITY } as RuleConfig<'intentDrift'>,
  evaluate(ctx, cfg) {
    const intent = ctx.intent;
    // an intent without a goal or non-goals (an idea from before intent_v1) has nothing to compare with
    if (!intent || (!intent.goal.trim() && intent.nonGoals.length === 0)) return [];
    const items = subjects(ctx);
    if (items.length === 0) return [];
    const problems = findDrift(intent, items, { minSimilarity: cfg.minSimilarity });
    const checked = items.map((i) => i.key);
    const where = ctx.checkpoint === 'plan' ? 'plan task' : 'change';
    const verdict: RuleVerdict = problems.length === 0
      ? { rule: 'intent.drift', outcome: 'pass', message: `every ${where} (${checked.length}) serves the intent's goal`, properties: { checked } }
      : {
        rule: 'intent.drift', outcome: 'fail', approvable: true,
        message: `${where === 'plan task' ? 'the plan' : 'the change'} drifts from the intent: ${problems.map((p) => p.message).join('; ')}`.slice(0, 2000),
        suggestedFix: 'bring the work back to the goal (re-plan, or narrow the change), or amend the idea\'s goal, non-goals or constraints',
        properties: { checked, drift: problems.map((p) => ({ task: p.key, kind: p.kind, ...p.details })).slice(0, 100) },
      };
    return [verdict];
  },
};
