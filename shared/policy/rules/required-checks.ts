// Required checks per path: a run that changed a path matching one of the globs must show
// each named check passed in its `test-report` (exit code 0, not timed out, no failures).
// Read from the runs' `diff-stats` (what changed) and `test-report` (what the gates ran).
import type { TestReport } from '../../callbacks/artifacts.js';
import { matcher, touched, unusable, type Rule, type RuleVerdict } from './context.js';

type Check = TestReport['checks'][number];
const passed = (c: Check) => c.exitCode === 0 && c.timedOut !== true && (c.failed ?? 0) === 0;

export const requiredChecks: Rule<'requiredChecks'> = {
  name: 'requiredChecks',
  checkpoints: ['post-implementation', 'pre-merge'],
  evaluate(ctx, cfg) {
    if (cfg.paths.length === 0) return [{ rule: 'requiredChecks', outcome: 'skip', message: 'no path requires a check' }];
    const rules = cfg.paths.map((p) => ({ ...p, match: matcher([p.glob]) }));
    const out: RuleVerdict[] = [];
    for (const run of ctx.runs) {
      if (!run.diffStats.ok) {
        out.push(unusable('requiredChecks', run, 'diff-stats', run.diffStats.problem));
        continue;
      }
      const paths = touched(run.diffStats.value);
      const required = new Map<string, string[]>(); // check → the globs that require it
      for (const r of rules) {
        if (!paths.some(r.match)) continue;
        for (const c of r.checks) required.set(c, [...(required.get(c) ?? []), r.glob]);
      }
      if (required.size === 0) continue;
      if (!run.testReport.ok) {
        out.push(unusable('requiredChecks', run, 'test-report', run.testReport.problem));
        continue;
      }
      const ran = run.testReport.value.checks;
      const missing = [...required.keys()].filter((name) => !ran.some((c) => c.name === name && passed(c)));
      const properties = { runId: run.runId, taskKey: run.taskKey, required: Object.fromEntries(required), missing };
      out.push(missing.length === 0
        ? { rule: 'requiredChecks', outcome: 'pass', properties, message: `task ${run.taskKey}: required checks passed (${[...required.keys()].join(', ')})` }
        : {
          rule: 'requiredChecks', outcome: 'fail', approvable: true, properties,
          message: `task ${run.taskKey}: required check(s) not passed: ${missing.map((m) => `${m} (for ${required.get(m)!.join(', ')})`).join('; ')}`,
          suggestedFix: `make the quality gates run ${missing.join(', ')} and pass (a .facteur/toolchain.yml command of that name)`,
        });
    }
    return out.length > 0 ? out : [{ rule: 'requiredChecks', outcome: 'skip', message: 'no changed path requires a check' }];
  },
};
