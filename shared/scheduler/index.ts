// The scheduler: a library call any function makes after it changes state (and the
// dispatch tick makes as a backstop). It promotes tasks whose dependencies are met, then
// claims ready tasks by priority, then age, round-robin across repositories at equal
// priority, under concurrency limits (global, per stage, per repository, per idea) and an
// exclusive lease per repository+branch workspace.
//
// Limits are counted from task_runs rows while holding transaction-scoped advisory locks
// on every scope the claim touches, taken in one sorted statement. Two schedulers on two
// instances therefore serialize exactly where they compete, and a limit is never exceeded,
// not even for a moment. The run is committed as `submitting`; the Argo create happens
// after commit (shared/dispatch).
import { randomUUID } from 'node:crypto';
import { workflowName } from '../argo/names.js';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import { SCHEDULABLE_IDEA_STATUSES, type Stage } from '../lifecycle/states.js';
import { promoteReadyTasks } from './promote.js';

export { promoteReadyTasks } from './promote.js';

export interface SchedulerDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'limits'>;
  /** Skips the scope locks: only so a test can show what happens without them. */
  readonly withoutLocks?: boolean;
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
}

/** The scopes a run of this task counts against, and the lock key of each. */
export function scopesOf(c: Pick<Candidate, 'idea_id' | 'stage' | 'repository' | 'branch' | 'base'>, limits: Config['limits']) {
  const workspace = workspaceOf(c);
  const keys = ['limit:global', `limit:repo:${c.repository}`, `idea:${c.idea_id}`];
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

/** Promotes, then claims up to `max` tasks; returns the claims (runs in `submitting`). */
export async function schedule(deps: SchedulerDeps, opts: { max?: number; ideaId?: string } = {}): Promise<Claim[]> {
  await promoteReadyTasks(deps.sql, opts.ideaId);
  const max = opts.max ?? 32;
  const candidates = await deps.sql<Candidate[]>`
    select t.id, t.idea_id, t.key, t.stage, t.repository, t.branch, t.base, t.attempts
      from codex_kb.tasks t join codex_kb.ideas i on i.id = t.idea_id
     where (t.state = 'ready' or (t.state = 'queued' and coalesce(t.not_before, '-infinity') <= now()))
       and i.status = any(${SCHEDULABLE_IDEA_STATUSES as string[]}::text[])
       and (${opts.ideaId ?? null}::uuid is null or t.idea_id = ${opts.ideaId ?? null}::uuid)
     order by t.priority_rank desc,
              row_number() over (partition by t.repository, t.priority_rank order by t.created_at, t.id),
              t.created_at, t.id
     limit ${max * 4}`;
  const claims: Claim[] = [];
  const full = new Set<string>();
  for (const c of candidates) {
    if (claims.length >= max) break;
    const { workspace, keys } = scopesOf(c, deps.config.limits);
    // A scope found full stays full for this pass: nothing in it finishes meanwhile.
    if (keys.some((k) => k.startsWith('limit:') && full.has(k)) || (workspace && full.has(`lease:workspace:${workspace}`))) continue;
    const outcome = await claim(deps, c, workspace, keys);
    if (outcome.claim) claims.push(outcome.claim);
    else if (outcome.fullScope) full.add(outcome.fullScope);
    if (full.has('limit:global')) break;
  }
  return claims;
}

interface ClaimRow {
  n_global: number;
  n_stage: number;
  n_repo: number;
  n_idea: number;
  n_workspace: number;
  run_id: string | null;
}

async function claim(deps: SchedulerDeps, c: Candidate, workspace: string | null, keys: string[]): Promise<{ claim?: Claim; fullScope?: string }> {
  const limits = deps.config.limits;
  const stageLimit = limits.stages[c.stage] ?? 1_000_000_000;
  const attempt = c.attempts + 1;
  const name = workflowName({ ideaId: c.idea_id, taskKey: c.key, stage: c.stage, attempt });
  const runId = randomUUID();
  // One round trip: codex_kb.claim_task (migration 0004) locks the scopes, counts and
  // claims in one statement. `withoutLocks` exists only so a test can show the race.
  const [row] = await deps.sql<ClaimRow[]>`
    select * from codex_kb.claim_task(${c.id}, ${c.attempts}, ${runId}, ${name}, ${deps.withoutLocks ? [] : keys}::text[],
      ${c.stage}, ${c.repository}, ${c.idea_id}, ${workspace}, ${limits.global}, ${stageLimit}, ${limits.repository},
      ${limits.idea}, ${SCHEDULABLE_IDEA_STATUSES as string[]}::text[])`;
  if (row?.run_id) {
    return { claim: { runId: row.run_id, taskId: c.id, ideaId: c.idea_id, stage: c.stage, attempt, workflowName: name } };
  }
  if (!row) return {};
  if (row.n_global >= limits.global) return { fullScope: 'limit:global' };
  if (row.n_stage >= stageLimit) return { fullScope: `limit:stage:${c.stage}` };
  if (row.n_repo >= limits.repository) return { fullScope: `limit:repo:${c.repository}` };
  if (workspace && row.n_workspace >= 1) return { fullScope: `lease:workspace:${workspace}` };
  return {};
}
