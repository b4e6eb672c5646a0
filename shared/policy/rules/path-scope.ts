// Path scope: a task changes only what its plan said (`paths`, as globs or directories)
// plus the pack's `allow` globs. Not approvable: an enforced violation blocks the task and
// the idea (re-plan, or widen the plan's paths, then retry) — a human's yes cannot make a
// change stay inside the scope it left.
import { matcher, touched, unusable, type Rule, type RuleVerdict } from './context.js';

/** A plan path is a glob, or a file or directory (everything under it). */
const scopeGlobs = (paths: readonly string[]) => paths.flatMap((p) => {
  const clean = p.replace(/\/+$/, '');
  return clean === '' ? [] : [clean, `${clean}/**`];
});

export const pathScope: Rule<'pathScope'> = {
  name: 'pathScope',
  checkpoints: ['post-implementation', 'pre-merge'],
  evaluate(ctx, cfg) {
    const out: RuleVerdict[] = [];
    const allowed = matcher(cfg.allow);
    for (const run of ctx.runs) {
      if (!run.diffStats.ok) {
        out.push({ ...unusable('pathScope', run, 'diff-stats', run.diffStats.problem), approvable: false });
        continue;
      }
      if (run.taskPaths.length === 0) {
        out.push({ rule: 'pathScope', outcome: 'skip', properties: { runId: run.runId, taskKey: run.taskKey }, message: `task ${run.taskKey}: its plan names no paths` });
        continue;
      }
      const inScope = matcher(scopeGlobs(run.taskPaths));
      const outside = touched(run.diffStats.value).filter((p) => !inScope(p) && !allowed(p)).sort();
      const properties = { runId: run.runId, taskKey: run.taskKey, scope: run.taskPaths, allow: cfg.allow, outside };
      out.push(outside.length === 0
        ? { rule: 'pathScope', outcome: 'pass', properties, message: `task ${run.taskKey}: every change is inside its paths` }
        : {
          rule: 'pathScope', outcome: 'fail', approvable: false, properties,
          message: `task ${run.taskKey} changed ${outside.length} file(s) outside its plan paths (${run.taskPaths.join(', ')}): ${outside.slice(0, 20).join(', ')}${outside.length > 20 ? ', …' : ''}`,
          suggestedFix: 'widen the task\'s paths in the plan (or the pack\'s pathScope.allow), then retry the idea',
        });
    }
    return out.length > 0 ? out : [{ rule: 'pathScope', outcome: 'skip', message: 'no change to check yet' }];
  },
};
