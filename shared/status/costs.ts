// Cost attributed per idea, per stage and per repository: what runs reported (`cost_usd`,
// `usage` tokens, cumulative per run), never estimates. A run's spend counts on the UTC day
// it was claimed — the same day the repository's daily budget counts it on.
import type { Queryable } from '../db/index.js';
import { ValidationError, type Issue } from '../errors/index.js';
import { ideaCost, ideaLimits, type BudgetsRule, type Limits } from '../policy/budgets.js';
import { policyForIdea } from '../policy/store.js';

export interface IdeaCost {
  readonly usd: number;
  readonly tokens: number;
  readonly byStage: Record<string, { usd: number; tokens: number; runs: number }>;
  readonly budget: { limits: Limits; spent: { costUsd: number; tokens: number }; remaining: Limits };
}

/** An idea's cost, by stage, against the budget in force for it (the pack's and the Idea Spec's, the lower). */
export async function ideaCostView(sql: Queryable, ideaId: string, ideaBudget: Limits | null): Promise<IdeaCost> {
  const [cost, eff] = await Promise.all([ideaCost(sql, ideaId), policyForIdea(sql, ideaId).catch(() => undefined)]);
  const limits = ideaLimits(eff?.document.rules.budgets as BudgetsRule | undefined, ideaBudget);
  const remaining: { maxCostUsd?: number; maxTokens?: number } = {};
  if (limits.maxCostUsd !== undefined) remaining.maxCostUsd = Math.max(0, round(limits.maxCostUsd - cost.usd));
  if (limits.maxTokens !== undefined) remaining.maxTokens = Math.max(0, limits.maxTokens - cost.tokens);
  return { ...cost, usd: round(cost.usd), budget: { limits, spent: { costUsd: round(cost.usd), tokens: cost.tokens }, remaining } };
}

const round = (n: number) => Math.round(n * 1e6) / 1e6;

export interface CostQuery {
  readonly repository?: string;
  /** The first UTC day counted, `YYYY-MM-DD`. */
  readonly since: string;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
export const MAX_COST_DAYS = 366;

/** `?repository=owner/name&since=YYYY-MM-DD` (default: the last 7 UTC days); every problem listed. */
export function parseCostQuery(q: URLSearchParams, now: Date = new Date()): CostQuery {
  const issues: Issue[] = [];
  for (const key of q.keys()) if (key !== 'repository' && key !== 'since') issues.push({ path: key, message: 'is not a parameter of /v1/costs (repository, since)' });
  const repository = q.get('repository');
  if (repository !== null && !/^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/.test(repository)) issues.push({ path: 'repository', message: 'must be owner/name' });
  const since = q.get('since') ?? new Date(now.getTime() - 6 * 86_400_000).toISOString().slice(0, 10);
  const t = DAY.test(since) ? Date.parse(`${since}T00:00:00Z`) : NaN;
  if (Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== since) issues.push({ path: 'since', message: 'must be a UTC date YYYY-MM-DD' });
  else if (now.getTime() - t > MAX_COST_DAYS * 86_400_000) issues.push({ path: 'since', message: `must be within the last ${MAX_COST_DAYS} days` });
  if (issues.length) throw new ValidationError('invalid query', issues);
  return { ...(repository !== null ? { repository: repository.toLowerCase() } : {}), since };
}

export interface CostDay {
  readonly day: string;
  readonly repository: string;
  readonly usd: number;
  readonly tokens: number;
  readonly runs: number;
  readonly byStage: Record<string, { usd: number; tokens: number; runs: number }>;
}

/** Cost per repository per UTC day, and per stage within each, oldest day first. */
export async function listCosts(sql: Queryable, q: CostQuery): Promise<{ since: string; repository: string | null; days: CostDay[] }> {
  const rows = await sql<{ day: string; repository: string; stage: string; usd: string; tokens: string; runs: number }[]>`
    select to_char(date_trunc('day', r.queued_at, 'UTC'), 'YYYY-MM-DD') as day, r.repository, r.stage,
           sum(r.cost_usd)::text as usd, sum(codex_kb.run_tokens(r.usage))::text as tokens, count(*)::int as runs
      from codex_kb.task_runs r
     where r.queued_at >= ${q.since}::date::timestamp at time zone 'UTC'
       and (${q.repository ?? null}::text is null or r.repository = ${q.repository ?? null}::text)
     group by 1, 2, 3 order by 1, 2, 3`;
  const days = new Map<string, { day: string; repository: string; usd: number; tokens: number; runs: number; byStage: CostDay['byStage'] }>();
  for (const r of rows) {
    const key = `${r.day} ${r.repository}`;
    const d = days.get(key) ?? { day: r.day, repository: r.repository, usd: 0, tokens: 0, runs: 0, byStage: {} };
    d.usd = round(d.usd + Number(r.usd));
    d.tokens += Number(r.tokens);
    d.runs += r.runs;
    d.byStage[r.stage] = { usd: round(Number(r.usd)), tokens: Number(r.tokens), runs: r.runs };
    days.set(key, d);
  }
  return { since: q.since, repository: q.repository ?? null, days: [...days.values()] };
}
