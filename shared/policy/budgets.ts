// Token and cost budgets (rules.budgets): per idea (the pack's `perIdea` and the Idea Spec's
// own `budget`, the lower of the two for each of cost and tokens) and per repository per UTC
// day (`perRepositoryPerDay`). Spend is read from task_runs as stored: `cost_usd` and
// `usage.inputTokens + usage.outputTokens`, each a run's cumulative figure (heartbeats and
// `completed` report the run's total so far). A run's spend counts on the UTC day it was
// claimed (`queued_at`).
//
// Committed spend — what the claim counts — is the finished runs' spend plus, for every run
// still active, the larger of its stage's estimate (recorded on the run when it was claimed)
// and what it has reported: a run that has not yet reported is assumed to spend its
// estimate. A new run is refused when the committed spend has reached a limit, or would pass
// it by the new run's estimate. The claim function (migration 0012) computes the same sums
// under the scope locks; `budgetVerdicts` says the same thing as Verdicts for the
// checkpoints and for the findings the claim records.
import type { Queryable } from '../db/index.js';
import type { Stage } from '../lifecycle/states.js';
import type { Verdict } from './findings.js';
import type { Rules } from './pack.js';

/** A rule as a pack holds it once read: every field with a default filled in. */
export type Filled<T> = { [K in keyof T]-?: NonNullable<T[K]> };
export type BudgetsRule = Filled<NonNullable<Rules['budgets']>>;

export interface Limits {
  readonly maxCostUsd?: number;
  readonly maxTokens?: number;
}

export interface Spend {
  readonly costUsd: number;
  readonly tokens: number;
}

export const NO_SPEND: Spend = { costUsd: 0, tokens: 0 };

/** For each of cost and tokens, the lower of the two limits that are set. */
export function lowerOf(a: Limits | undefined, b: Limits | undefined): Limits {
  const min = (x: number | undefined, y: number | undefined) => (x === undefined ? y : y === undefined ? x : Math.min(x, y));
  const cost = min(a?.maxCostUsd, b?.maxCostUsd);
  const tokens = min(a?.maxTokens, b?.maxTokens);
  return { ...(cost !== undefined ? { maxCostUsd: cost } : {}), ...(tokens !== undefined ? { maxTokens: tokens } : {}) };
}

export const hasLimit = (l: Limits) => l.maxCostUsd !== undefined || l.maxTokens !== undefined;

/** The limits in force for an idea: the pack's per-idea budget and the Idea Spec's, the lower wins. */
export function ideaLimits(rule: BudgetsRule | undefined, ideaBudget: Limits | null | undefined): Limits {
  if (rule?.mode === 'off') return {};
  return lowerOf(rule?.perIdea, ideaBudget ?? undefined);
}

export function repositoryLimits(rule: BudgetsRule | undefined): Limits {
  return rule && rule.mode !== 'off' ? lowerOf(rule.perRepositoryPerDay, undefined) : {};
}

/** What a run of `stage` is assumed to spend before it reports. */
export function estimateFor(rule: BudgetsRule | undefined, stage: Stage): Spend {
  const e = rule?.estimates?.[stage];
  return { costUsd: e?.costUsd ?? 0, tokens: e?.tokens ?? 0 };
}

/**
 * Whether starting a run estimated at `estimate` is refused: a limit already reached, or one
 * the estimate would pass. With no estimate (0), only a reached limit refuses.
 */
export function refuses(limit: number | undefined, committed: number, estimate: number): boolean {
  return limit !== undefined && (committed >= limit || committed + estimate > limit);
}

/** Spend strictly past a limit (what stops a running step). */
export function exceeded(limits: Limits, spent: Spend): string[] {
  const over: string[] = [];
  if (limits.maxCostUsd !== undefined && spent.costUsd > limits.maxCostUsd) over.push(`cost $${fmt(spent.costUsd)} of $${fmt(limits.maxCostUsd)}`);
  if (limits.maxTokens !== undefined && spent.tokens > limits.maxTokens) over.push(`${spent.tokens} of ${limits.maxTokens} tokens`);
  return over;
}

const fmt = (n: number) => (Math.round(n * 1e6) / 1e6).toString();

export interface BudgetContext {
  readonly rule: BudgetsRule | undefined;
  /** The Idea Spec's own `budget`. */
  readonly ideaBudget?: Limits | null;
  readonly repository: string;
  /** Committed spend of the idea (see the header). */
  readonly idea: Spend;
  /** Committed spend of the repository today (UTC). */
  readonly repositoryToday: Spend;
  /** At claim: the estimate of the run about to start; elsewhere absent (nothing more is started). */
  readonly estimate?: Spend;
}

function scopeVerdict(scope: 'idea' | 'repository', what: string, limits: Limits, spent: Spend, estimate: Spend, warnAt: number): Verdict {
  const problems: string[] = [];
  const near: string[] = [];
  const check = (limit: number | undefined, committed: number, est: number, unit: (n: number) => string) => {
    if (limit === undefined) return;
    if (refuses(limit, committed, est)) {
      problems.push(committed >= limit ? `${unit(committed)} of ${unit(limit)} spent` : `${unit(committed)} spent + ${unit(est)} estimated would pass ${unit(limit)}`);
    } else if (limit > 0 && (committed + est) / limit >= warnAt) near.push(`${Math.round(((committed + est) / limit) * 100)}% of ${unit(limit)}`);
  };
  check(limits.maxCostUsd, spent.costUsd, estimate.costUsd, (n) => `$${fmt(n)}`);
  check(limits.maxTokens, spent.tokens, estimate.tokens, (n) => `${n} tokens`);
  const properties = { scope, limits, spent, estimate, ...(near.length ? { near } : {}) };
  if (problems.length > 0) {
    return {
      rule: 'budgets', outcome: 'fail', message: `budget exhausted: ${what}: ${problems.join('; ')}`, properties,
      suggestedFix: scope === 'idea' ? "raise the idea's budget (Idea Spec or the pack's rules.budgets.perIdea) and retry the idea" : "wait for the next UTC day or raise rules.budgets.perRepositoryPerDay",
    };
  }
  return { rule: 'budgets', outcome: 'pass', message: `${what}: within budget${near.length ? ` (at ${near.join(', ')})` : ''}`, properties };
}

/** The budget rule's verdicts: one per scope with a limit, or one `skip` when no limit is set. */
export function budgetVerdicts(ctx: BudgetContext): Verdict[] {
  const warnAt = ctx.rule?.warnAt ?? 0.8;
  const estimate = ctx.estimate ?? { costUsd: 0, tokens: 0 };
  const idea = ideaLimits(ctx.rule, ctx.ideaBudget);
  const repo = repositoryLimits(ctx.rule);
  const out: Verdict[] = [];
  if (hasLimit(idea)) out.push(scopeVerdict('idea', 'the idea', idea, ctx.idea, estimate, warnAt));
  if (hasLimit(repo)) out.push(scopeVerdict('repository', `repository ${ctx.repository} today (UTC)`, repo, ctx.repositoryToday, estimate, warnAt));
  return out.length > 0 ? out : [{ rule: 'budgets', outcome: 'skip', message: 'no budget is set for this idea or its repository' }];
}

interface SpendRow {
  idea_cost: string;
  idea_tokens: string;
  repo_cost: string;
  repo_tokens: string;
}

/**
 * Committed spend of an idea and of its repository today, as the claim counts it (one query).
 * `now` is the scheduler's clock (null: the database's).
 */
export async function committedSpend(sql: Queryable, ideaId: string, repository: string, now: Date | null = null): Promise<{ idea: Spend; repositoryToday: Spend }> {
  const [row] = await sql<SpendRow[]>`select * from codex_kb.committed_spend(${ideaId}, ${repository}, ${now}::timestamptz)`;
  return {
    idea: { costUsd: Number(row?.idea_cost ?? 0), tokens: Number(row?.idea_tokens ?? 0) },
    repositoryToday: { costUsd: Number(row?.repo_cost ?? 0), tokens: Number(row?.repo_tokens ?? 0) },
  };
}

/** What runs of an idea have actually spent (reported, no estimates), in all and by stage. */
export async function ideaCost(sql: Queryable, ideaId: string): Promise<{ usd: number; tokens: number; byStage: Record<string, { usd: number; tokens: number; runs: number }> }> {
  const rows = await sql<{ stage: string; usd: string; tokens: string; runs: number }[]>`
    select stage, sum(cost_usd)::text as usd, sum(codex_kb.run_tokens(usage))::text as tokens, count(*)::int as runs
      from codex_kb.task_runs where idea_id = ${ideaId} group by stage order by stage`;
  const byStage = Object.fromEntries(rows.map((r) => [r.stage, { usd: Number(r.usd), tokens: Number(r.tokens), runs: r.runs }]));
  return { usd: rows.reduce((s, r) => s + Number(r.usd), 0), tokens: rows.reduce((s, r) => s + Number(r.tokens), 0), byStage };
}
