// Usage past the budget stops the run. A heartbeat may carry the run's usage so far
// (cumulative, like `completed`'s, which is judged the same way: work that ran past the
// budget is not accepted); it is recorded on the run at once, so the claim of any
// other run of the idea or the repository counts it. When an enforced budget (the idea's, or
// the repository's for today) is then exceeded — committed spend strictly past a limit: what
// runs reported, and each active run's estimate where it reported less — the run is
// cancelled (`budget_exceeded`), its task and
// the idea are blocked with the reason, and the answer tells the step to stop:
//   {"stop": {"reason": "budget_exceeded", "message", "scope": "idea|repository", "limits", "spent"}}
// The caller holds the idea's lock.
import { appendAudit } from '../audit/index.js';
import type { Config } from '../config/index.js';
import type { Tx } from '../db/index.js';
import { blockIdea } from '../lifecycle/advance.js';
import { moveTask } from '../lifecycle/transitions.js';
import { exceeded, ideaLimits, repositoryLimits, type BudgetsRule, type Limits, type Spend } from '../policy/budgets.js';
import { judge, recordFindings } from '../policy/findings.js';
import { policyForIdea } from '../policy/store.js';
import { recordStageSpansOnCommit } from '../lifecycle/stage-spans.js';

export interface Usage {
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly costUsd?: number;
}

export interface StopAnswer {
  readonly reason: 'budget_exceeded';
  readonly message: string;
  readonly scope: 'idea' | 'repository';
  readonly limits: Limits;
  readonly spent: Spend;
}

/** Records a run's usage so far; figures are cumulative, so a smaller one never lowers them. */
export async function recordUsage(tx: Tx, runId: string, usage: Usage): Promise<void> {
  await tx`
    update codex_kb.task_runs
       set usage = usage || ${tx.json(usage as never)}, cost_usd = greatest(cost_usd, ${usage.costUsd ?? 0})
     where id = ${runId}`;
}

interface Run {
  readonly id: string;
  readonly idea_id: string;
  readonly task_id: string;
}

/** Cancels the run and blocks its task and idea when an enforced budget is exceeded; the stop answer, or undefined. */
export async function stopIfOverBudget(tx: Tx, config: Pick<Config, 'topics'>, run: Run, at: 'heartbeat' | 'completed'): Promise<StopAnswer | undefined> {
  const eff = await policyForIdea(tx, run.idea_id);
  const rule = eff.document.rules.budgets as BudgetsRule | undefined;
  if (!rule || !(rule.mode === 'enforce' || (eff.document.strict && rule.mode === 'warn'))) return undefined;
  // The committed spend, as the claim counts it: what finished runs reported, and for every
  // active run the larger of its estimate and its report. A run that spends past its own
  // estimate is stopped once it eats into the share the claim set aside for the idea's other
  // active runs: counting reported spend alone let a runaway and its sibling's later report
  // together pass the budget by more than one estimate (chaos seed 167526857).
  const [row] = await tx<{ budget: Limits; repository: string; idea_cost: string; idea_tokens: string; repo_cost: string; repo_tokens: string }[]>`
    select i.budget, i.repository, s.idea_cost::text, s.idea_tokens::text, s.repo_cost::text, s.repo_tokens::text
      from codex_kb.ideas i cross join lateral codex_kb.committed_spend(i.id, i.repository) s
     where i.id = ${run.idea_id}`;
  if (!row) return undefined;
  const scopes = [
    { scope: 'idea' as const, limits: ideaLimits(rule, row.budget), spent: { costUsd: Number(row.idea_cost), tokens: Number(row.idea_tokens) } },
    { scope: 'repository' as const, limits: repositoryLimits(rule), spent: { costUsd: Number(row.repo_cost), tokens: Number(row.repo_tokens) } },
  ];
  const hit = scopes.map((s) => ({ ...s, over: exceeded(s.limits, s.spent) })).find((s) => s.over.length > 0);
  if (!hit) return undefined;
  const what = hit.scope === 'idea' ? 'the idea' : `repository ${row.repository} today (UTC)`;
  const message = `budget exceeded: ${what}: ${hit.over.join('; ')}`;
  const cancelled = await tx`
    update codex_kb.task_runs set status = 'cancelled', completed_at = now(), error_code = 'budget_exceeded', error_message = ${message}
     where id = ${run.id} and status in ('submitting', 'running') returning id`;
  if (cancelled.length === 0) return undefined;
  await recordStageSpansOnCommit(tx, [run.id]);
  await moveTask(tx, run.task_id, ['submitting', 'running'], 'blocked', message);
  await blockIdea(tx, run.idea_id, message);
  const finding = judge(
    { rule: 'budgets', outcome: 'fail', message, properties: { scope: hit.scope, limits: hit.limits, spent: hit.spent, at }, suggestedFix: 'raise the budget and retry the idea' },
    rule, { policy: `${eff.document.key}@${eff.document.version}`, strict: eff.document.strict },
    { ideaId: run.idea_id, taskId: run.task_id, runId: run.id, checkpoint: 'claim' },
  );
  if (finding) await recordFindings(tx, [finding], eff.hash);
  await appendAudit(tx, {
    actor: 'callbacks', action: 'budget.stopped', subjectType: 'run', subjectId: run.id, ideaId: run.idea_id,
    details: { effectivePolicyHash: eff.hash, reason: message },
  });
  await tx`
    with timeline as (
      insert into codex_kb.run_events (idea_id, run_id, task_id, event_type, actor, payload)
      values (${run.idea_id}, ${run.id}, ${run.task_id}, 'run.cancelled', 'callbacks', ${tx.json({ errorCode: 'budget_exceeded', reason: message })})
    )
    insert into codex_kb.outbox (type, source, subject, topic, key, data)
    values ('facteur.idea.blocked', '/facteur/callbacks', ${run.idea_id}, ${config.topics.events}, ${run.idea_id},
            ${tx.json({ ideaId: run.idea_id, taskId: run.task_id, runId: run.id, reason: message, rule: 'budgets', effectivePolicyHash: eff.hash })})`;
  return { reason: 'budget_exceeded', message, scope: hit.scope, limits: hit.limits, spent: hit.spent };
}
