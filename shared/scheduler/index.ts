// The scheduler: a library call any function makes after it changes state (and the
// dispatch tick makes as a backstop). It promotes tasks whose dependencies are met, then
// claims ready tasks (and retries whose backoff is over) by priority, then age,
// round-robin across repositories at equal priority (every repository's oldest, then every
// repository's second oldest, …), under concurrency limits (global, per stage, per
// repository, per idea) and an exclusive lease per repository+branch workspace. A scope
// at its limit never holds back the others, however many tasks it has waiting.
// (test/scheduler/order.test.ts)
//
// Limits are counted from task_runs rows while holding transaction-scoped advisory locks
// on every scope the claim touches, taken in one sorted statement. Two schedulers on two
// instances therefore serialize exactly where they compete, and a limit is never exceeded,
// not even for a moment (test/scheduler/limits.test.ts, which also shows the same race
// exceeding them with the locks taken out of the claim function). The run is committed as
// `submitting`; the Argo create happens after commit (shared/dispatch).
//
// The claim is also a policy checkpoint (./governance.ts): a task of a frozen stage inside a
// freeze window waits, and the budgets are checked in the claim function under the same
// locks (a repository's daily budget adds its own key), so concurrent schedulers cannot
// overshoot a budget together (test/scheduler/budgets.test.ts).
import { randomUUID } from 'node:crypto';
import { workflowName } from '../argo/names.js';
import type { Logger } from '../log/index.js';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import { SCHEDULABLE_IDEA_STATUSES, type Stage } from '../lifecycle/states.js';
import type { Limits } from '../policy/budgets.js';
import { recordFindings, type Finding } from '../policy/findings.js';
import { nowParam, type Clock } from './clock.js';
import { blockOverBudget, budgetFindings, claimBudget, deferToNextDay, holdIfFrozen, PassPolicies, type ClaimBudget, type IdeaGovernance } from './governance.js';
import { promoteReadyTasks } from './promote.js';

export type { Clock } from './clock.js';
export { promoteReadyTasks } from './promote.js';

export interface SchedulerDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'limits' | 'topics'>;
  /** What a retry's `not_before` is compared with; the database's `now()` when absent. */
  readonly clock?: Clock;
  /** Where an idea whose policy cannot be used is said (its tasks wait); silent when absent. */
  readonly log?: Logger;
}

export interface Claim {
  readonly runId: string;
  readonly taskId: string;
  readonly ideaId: string;
  readonly stage: Stage;
  readonly attempt: number;
  readonly workflowName: string;
}

interface Candidate {
  id: string;
  idea_id: string;
  key: string;
  stage: Stage;
  repository: string;
  branch: string | null;
  base: string;
  attempts: number;
  idea_budget: Limits | null;
}

/** The scopes a run of this task counts against, and the lock key of each. */
export function scopesOf(c: Pick<Candidate, 'idea_id' | 'stage' | 'repository' | 'branch' | 'base'>, limits: Config['limits'], budgetKey?: string) {
  const workspace = workspaceOf(c);
  const keys = ['limit:global', `limit:repo:${c.repository}`, `idea:${c.idea_id}`];
  if (budgetKey) keys.push(budgetKey);
  if (limits.stages[c.stage] !== undefined) keys.push(`limit:stage:${c.stage}`);
  if (workspace) keys.push(`lease:workspace:${workspace}`);
  return { workspace, keys: keys.sort() };
}

/** Implementation writes its branch; integration and deploy write the base branch. */
export function workspaceOf(c: Pick<Candidate, 'stage' | 'repository' | 'branch' | 'base'>): string | null {
  if (c.stage === 'implementation') return c.branch ? `${c.repository}#${c.branch}` : null;
  if (c.stage === 'integration' || c.stage === 'deploy') return `${c.repository}#${c.base}`;
  return null;
}

/** How many candidate windows one pass may look through (see `schedule`). */
const MAX_WINDOWS = 8;

/** Promotes, then claims up to `max` tasks; returns the claims (runs in `submitting`). */
export async function schedule(deps: SchedulerDeps, opts: { max?: number; ideaId?: string } = {}): Promise<Claim[]> {
  await promoteReadyTasks(deps.sql, opts.ideaId);
  const max = opts.max ?? 32;
  const window = max * 4;
  // The clock is read once: with an injected clock the pick and every claim of the pass agree on "now".
  const now = nowParam(deps.clock);
  const policies = new PassPolicies(deps.sql, deps.log);
  const claims: Claim[] = [];
  // Scopes found full stay full for the rest of this pass (lock keys, see scopesOf).
  const full = new Set<string>();
  const tried: string[] = [];
  for (let w = 0; w < MAX_WINDOWS; w++) {
    const candidates = await pick(deps, opts.ideaId, now, window, tried, full);
    // An idea's policy is resolved when one of its tasks gets past the full scopes, not for
    // the whole window: resolving 128 ideas' policies per pass while their stage was full
    // cut the 1 000-idea chaos run's throughput to a third (seed 404).
    for (const c of candidates) {
      if (claims.length >= max) break;
      tried.push(c.id);
      // a scope already known full costs no policy resolution
      if (scopesOf(c, deps.config.limits).keys.some((k) => full.has(k))) continue;
      const gov = await policies.get(c.idea_id, c.idea_budget);
      if (!gov) continue;
      const frozen = await holdIfFrozen(deps.sql, gov, c, now ?? new Date());
      if (frozen.held) continue;
      const budget = claimBudget(gov, c.stage, c.repository);
      const { workspace, keys } = scopesOf(c, deps.config.limits, budget.lockKey);
      if (keys.some((k) => full.has(k))) continue;
      // a freeze not enforced is recorded with the run it let start
      const outcome = await claim(deps, c, workspace, keys, now, gov, budget, frozen.finding ? [frozen.finding] : []);
      if (outcome.claim) claims.push(outcome.claim);
      else if (outcome.fullScope) full.add(outcome.fullScope);
      if (full.has('limit:global')) return claims;
    }
    // A window filled with tasks of full scopes (a busy repository with many older or more
    // urgent tasks, say) must not hold back everything behind it: look past it, without
    // the scopes now known to be full.
    if (claims.length >= max || candidates.length < window) break;
  }
  return claims;
}

/**
 * Ready tasks and retries that are due, by priority, then round-robin across repositories
 * (each repository's oldest first), then age — less the tasks already tried in this pass
 * and those of repositories, ideas and stages found full.
 */
async function pick(deps: SchedulerDeps, ideaId: string | undefined, now: Date | null, limit: number, tried: readonly string[], full: ReadonlySet<string>) {
  const without = (prefix: string) => [...full].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  // one idea's pick is its own statement (and plan): see promoteReadyTasks
  const inScope = ideaId === undefined ? deps.sql`true` : deps.sql`t.idea_id = ${ideaId}::uuid`;
  return deps.sql<Candidate[]>`
    select t.id, t.idea_id, t.key, t.stage, t.repository, t.branch, t.base, t.attempts, i.budget as idea_budget
      from codex_kb.tasks t join codex_kb.ideas i on i.id = t.idea_id
     where t.state in ('ready', 'queued') and coalesce(t.not_before, '-infinity') <= coalesce(${now}::timestamptz, now())
       and i.status = any(${SCHEDULABLE_IDEA_STATUSES as string[]}::text[])
       and ${inScope}
       and t.id <> all(${tried as string[]}::uuid[])
       and t.repository <> all(${without('limit:repo:')}::text[])
       and t.idea_id <> all(${without('idea:')}::uuid[])
       and t.stage <> all(${without('limit:stage:')}::text[])
     order by t.priority_rank desc,
              row_number() over (partition by t.repository, t.priority_rank order by t.created_at, t.id),
              t.created_at, t.id
     limit ${limit}`;
}

interface ClaimRow {
  n_global: number;
  n_stage: number;
  n_repo: number;
  n_idea: number;
  n_workspace: number;
  run_id: string | null;
  over_budget: boolean;
  idea_cost: string;
  idea_tokens: string;
  repo_cost: string;
  repo_tokens: string;
}

async function claim(deps: SchedulerDeps, c: Candidate, workspace: string | null, keys: string[], now: Date | null, gov: IdeaGovernance, budget: ClaimBudget, noted: readonly Finding[]): Promise<{ claim?: Claim; fullScope?: string }> {
  const limits = deps.config.limits;
  const stageLimit = limits.stages[c.stage] ?? 1_000_000_000;
  const attempt = c.attempts + 1;
  const name = workflowName({ ideaId: c.idea_id, taskKey: c.key, stage: c.stage, attempt });
  const runId = randomUUID();
  // One round trip: codex_kb.claim_task (migrations 0004, 0008, 0012) locks the scopes,
  // counts runs and spend, and claims in one statement.
  const [row] = await deps.sql<ClaimRow[]>`
    select * from codex_kb.claim_task(${c.id}, ${c.attempts}, ${runId}, ${name}, ${keys}::text[],
      ${c.stage}, ${c.repository}, ${c.idea_id}, ${workspace}, ${limits.global}, ${stageLimit}, ${limits.repository},
      ${limits.idea}, ${SCHEDULABLE_IDEA_STATUSES as string[]}::text[], ${now}::timestamptz, ${gov.hash},
      ${deps.sql.json(budget.param as never)})`;
  if (!row) return {};
  // Only a refusal or a claim over budget (not enforced) costs another statement.
  const findings = row.over_budget ? budgetFindings(gov, c, spendOf(row, budget), row.run_id) : [];
  if (row.run_id) {
    const all = [...findings, ...noted.map((f) => ({ ...f, scope: { ...f.scope, runId: row.run_id } }))];
    if (all.length > 0) await recordFindings(deps.sql, all, gov.hash);
    return { claim: { runId: row.run_id, taskId: c.id, ideaId: c.idea_id, stage: c.stage, attempt, workflowName: name } };
  }
  if (row.over_budget && budget.param.enforce) {
    const enforced = findings.filter((f) => f.enforced);
    if (await deferToNextDay(deps.sql, gov, c, enforced, now ?? new Date())) return { fullScope: `limit:repo:${c.repository}` };
    await blockOverBudget(deps.sql, deps.config, gov, c, enforced);
    return { fullScope: `idea:${c.idea_id}` };
  }
  if (row.n_global >= limits.global) return { fullScope: 'limit:global' };
  if (row.n_stage >= stageLimit) return { fullScope: `limit:stage:${c.stage}` };
  if (row.n_repo >= limits.repository) return { fullScope: `limit:repo:${c.repository}` };
  if (row.n_idea >= limits.idea) return { fullScope: `idea:${c.idea_id}` };
  if (workspace && row.n_workspace >= 1) return { fullScope: `lease:workspace:${workspace}` };
  return {};
}

function spendOf(row: ClaimRow, budget: ClaimBudget) {
  return {
    idea: { costUsd: Number(row.idea_cost), tokens: Number(row.idea_tokens) },
    repositoryToday: { costUsd: Number(row.repo_cost), tokens: Number(row.repo_tokens) },
    estimate: budget.param.estimate,
  };
}
