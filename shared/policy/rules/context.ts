// What a rule reads: one checkpoint's facts about an idea, gathered from the database by
// the evaluator (../gather.ts) so that every rule stays a pure function of this value and
// can be tested table-driven without a database.
//
// Glossary. A *run's change* is what its `diff-stats` artifact lists; its *checks* are the
// `test-report` artifact's. Either may be missing (a step that died before reporting) or
// malformed (a step of another version): the rules that need them then say `error`.
import picomatch from 'picomatch';
import type { DiffStats, TestReport } from '../../callbacks/artifacts.js';
import type { DriftIntent } from '../../intent/drift.js';
import type { BudgetsRule } from '../budgets.js';
import type { EffectivePolicy } from '../effective.js';
import type { Checkpoint, Verdict } from '../findings.js';
import type { Level, Mode, PolicyPack, RuleName, Severity } from '../pack.js';

/** An artifact as a rule sees it: parsed, or why it could not be. */
export type Reported<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

export interface RunFacts {
  readonly runId: string;
  readonly taskId: string;
  readonly taskKey: string;
  /** The task's plan `paths`: where its change is expected. */
  readonly taskPaths: readonly string[];
  readonly diffStats: Reported<DiffStats>;
  readonly testReport: Reported<TestReport>;
  /** What the run was asked and says it did: the task's title and description, the diff-stats' title and summary when reported. */
  readonly taskText?: string;
}

export interface RepoLocalFacts {
  readonly path: string;
  readonly digest: string;
  /** The file did not validate: its problems. */
  readonly error?: { readonly message: string; readonly issues: readonly { path: string; message: string }[] };
}

export interface RuleContext {
  readonly checkpoint: Checkpoint;
  readonly ideaId: string;
  readonly taskId: string | null;
  readonly runId: string | null;
  readonly policy: Pick<EffectivePolicy, 'document' | 'hash' | 'chain'>;
  readonly idea: {
    readonly repository: string;
    readonly autonomyLevel: Level;
    readonly labels: readonly string[];
    readonly acceptanceCriteria: readonly string[];
    readonly successMetrics: readonly string[];
  };
  /** Regression thresholds the monitoring window checks (config `lifecycle.monitorThresholds`). */
  readonly monitorThresholds: Readonly<Record<string, unknown>>;
  /** The accepted plan's tasks (empty before a plan is accepted). */
  readonly planTasks: readonly { readonly key: string; readonly risk: string; readonly paths: readonly string[]; readonly title?: string; readonly description?: string }[];
  /** The intent anchor's parts the goal-drift rule compares work with (absent: nothing to compare). */
  readonly intent?: DriftIntent;
  /** post-implementation: the run that completed; later checkpoints: the latest run of each implementation task. */
  readonly runs: readonly RunFacts[];
  /** The latest succeeded run of every implementation task of the idea (the idea's whole change so far). */
  readonly ideaRuns: readonly RunFacts[];
  /** Gathered at the checkpoints where the change budget runs (pre-deploy). */
  readonly deploys?: {
    /** Deploy runs of this repository that succeeded in the last 24 hours / 7 days. */
    readonly lastDay: number;
    readonly lastWeek: number;
    /** The latest successful deploy of this repository was followed by a regression (monitoring → remediation). */
    readonly lastRegressed: { readonly ideaId: string; readonly at: string } | null;
  };
  /** The `.facteur/policy.yml` the planning run reported, if any. */
  readonly repoLocal: RepoLocalFacts | null;
  /** Committed spend (shared/policy/budgets.ts) and the Idea Spec's own budget; read only at the budgets rule's checkpoints. */
  readonly spend?: {
    readonly idea: { readonly costUsd: number; readonly tokens: number };
    readonly repositoryToday: { readonly costUsd: number; readonly tokens: number };
    readonly ideaBudget: { readonly maxCostUsd?: number; readonly maxTokens?: number } | null;
  };
}

/** The fields the pack schema fills in with defaults (its inferred type leaves them optional). */
interface Filled {
  autonomy: { maxLevel: Level; preconditions: { acceptanceCriteria: boolean; successMetrics: boolean; monitoring: boolean } };
  requiredChecks: { paths: { glob: string; checks: string[] }[] };
  highRisk: { labels: string[]; sensitivePaths: string[]; planRisk: boolean; checkpoints: ('pre-merge' | 'pre-deploy')[] };
  churn: object;
  pathScope: { allow: string[] };
  freeze: object;
  changeBudget: { afterRegression: 'approval' | 'none' };
  budgets: Pick<BudgetsRule, 'perIdea' | 'perRepositoryPerDay' | 'estimates' | 'warnAt'>;
  intentDrift: { minSimilarity: number };
}

/** A rule's configuration in the effective policy (defaults filled in). */
export type RuleConfig<R extends RuleName> = NonNullable<PolicyPack['rules'][R]> & { mode: Mode; severity: Severity } & Filled[R];

/**
 * A verdict, or an advisory one: a fact a person should see (an autonomy level not granted,
 * say) that is never enforced itself — recorded as a warning, not as "would have blocked".
 */
export type RuleVerdict = Verdict & { readonly advisory?: boolean };

export interface Rule<R extends RuleName = RuleName> {
  readonly name: R;
  /** Where it runs; the registry (./index.ts) is the one place that says so. */
  readonly checkpoints: readonly Checkpoint[];
  /** Its configuration when the pack leaves it out; without one, a rule left out is off. */
  readonly fallback?: RuleConfig<R>;
  evaluate(ctx: RuleContext, cfg: RuleConfig<R>): RuleVerdict[];
}

/** A path-glob matcher: picomatch with dot files included (`.github/**` must match). */
export function matcher(globs: readonly string[]): (path: string) => boolean {
  if (globs.length === 0) return () => false;
  const m = picomatch([...globs], { dot: true });
  return (path) => m(path);
}

/** Every path a run's change touched (a rename touches both its old and its new path). */
export function touched(stats: DiffStats): string[] {
  return [...new Set(stats.files.flatMap((f) => (f.oldPath ? [f.oldPath, f.path] : [f.path])))];
}

/** An `error` verdict for a rule that needed an artifact it could not use. */
export function unusable(rule: RuleName, run: RunFacts, kind: 'diff-stats' | 'test-report', problem: string): Verdict {
  return {
    rule, outcome: 'error', message: `task ${run.taskKey}: its ${kind} artifact ${problem}`,
    suggestedFix: `re-run task ${run.taskKey} with a facteur-agent that reports ${kind}`,
    properties: { runId: run.runId, taskKey: run.taskKey, artifact: kind },
  };
}

export const LEVEL_RANK = (l: Level) => Number(l.slice(1));
