// Budgets never overshot: for every idea with a budget (its Idea Spec's, and the per-idea
// budget of the policy its runs were claimed under, the lower), what its runs reported never
// passes the budget by more than one stage estimate (the claim refuses a run whose estimate
// would pass it; a run may still spend past its estimate until a heartbeat stops it).
import { result, type Invariant } from './index.js';

export const budgetsNeverOvershot: Invariant = {
  name: 'budgets_overshot',
  description: "no idea's reported spend passed its budget by more than one stage estimate",
  async check(h, db) {
    const rows = await db<{ id: string; limit_usd: string | null; spent: string; estimate: string; over: boolean }[]>`
      with budgets as (
        select i.id,
               least((i.budget->>'maxCostUsd')::numeric,
                     (select min((p.document->'rules'->'budgets'->'perIdea'->>'maxCostUsd')::numeric)
                        from codex_kb.task_runs r join codex_kb.effective_policies p on p.hash = r.effective_policy_hash
                       where r.idea_id = i.id and p.document->'rules'->'budgets'->>'mode' <> 'off')) as limit_usd
          from codex_kb.ideas i
      )
      select b.id, b.limit_usd::text, s.spent::text, s.estimate::text, s.spent > b.limit_usd + s.estimate as over
        from budgets b
        cross join lateral (select coalesce(sum(r.cost_usd), 0) as spent, coalesce(max(r.estimate_cost_usd), 0) as estimate
                              from codex_kb.task_runs r where r.idea_id = b.id) s
       where b.limit_usd is not null`;
    // compared in numeric: $0.07 is not past $0.06 + $0.01 (it is in floating point)
    const problems = rows
      .filter((r) => r.over)
      .map((r) => `idea ${r.id} spent $${r.spent} of a $${r.limit_usd} budget (largest stage estimate $${r.estimate})`);
    const [b] = await db<{ blocked: number }[]>`
      select count(*)::int as blocked from codex_kb.ideas where status = 'blocked' and status_reason ~ '^budget (exhausted|exceeded)'`;
    const binding = [...h.ideas.values()].filter((i) => i.gov && i.gov.kind !== 'risky').length;
    return result('budgets_overshot', problems, `${rows.length} ideas with a budget checked; ${binding} made to bind: ${b!.blocked} blocked by their budget, ${h.budgetStops.size} runs stopped by a heartbeat or completion past it`);
  },
};
