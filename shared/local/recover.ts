// Runs that local mode's runner stopped running without their stage failing: the process
// was killed or restarted (`runner_restarted`, found at the next start) or shut down
// (`runner_stopped`). Waiting for the heartbeat timeout would leave the idea silent for two
// minutes and then charge the task an attempt for something the stage did not do. So each
// is settled as failed at once, through the lifecycle's settleRun, and the task gets its
// attempt back in the same transaction (audited with the reason) and runs again at once.
//
// Attempt numbers name runs (unique per task, part of the workflow name), so the attempt is
// returned by raising the task's max_attempts by one, as a review cycle does; raised BEFORE
// the settle, so that a run on its task's last attempt is retried rather than blocked.
import { appendAudit } from '../audit/index.js';
import type { Config } from '../config/index.js';
import { transaction, type Sql } from '../db/index.js';
import { settleRun, type RunRow } from '../lifecycle/advance.js';

export type Interruption = 'runner_restarted' | 'runner_stopped';

export interface RecoverDeps {
  readonly sql: Sql;
  readonly config: Config;
}

const REASONS: Record<Interruption, string> = {
  runner_restarted: 'local mode was restarted while this run was active; its stage process is gone',
  runner_stopped: 'local mode shut down before this run finished; its stage process was stopped',
};

/**
 * Every active run of the local runner in this database. Only meaningful when the
 * database belongs to this process alone (the embedded one, behind the data dir's lock): a
 * DATABASE_URL may be shared with other local processes whose runs these would be too.
 * `submitting` runs have no namespace yet (it is written when the workflow is created).
 */
export async function activeLocalRuns(sql: Sql, namespace: string): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select id from codex_kb.task_runs
     where status in ('submitting', 'running') and (namespace = ${namespace} or namespace is null)
     order by queued_at`;
  return rows.map((r) => r.id);
}

/** The active runs of these workflows (the ones this process's runner just stopped). */
export async function activeRunsOf(sql: Sql, workflows: readonly string[]): Promise<string[]> {
  if (workflows.length === 0) return [];
  const rows = await sql<{ id: string }[]>`
    select id from codex_kb.task_runs
     where external_run_id = any(${workflows as string[]}::text[]) and status in ('submitting', 'running')`;
  return rows.map((r) => r.id);
}

/** Settles each run as interrupted, giving its attempt back; returns how many it settled. */
export async function settleInterrupted(deps: RecoverDeps, runIds: readonly string[], why: Interruption): Promise<number> {
  let n = 0;
  for (const id of runIds) {
    const [head] = await deps.sql<{ idea_id: string }[]>`select idea_id from codex_kb.task_runs where id = ${id}`;
    if (!head) continue;
    const settled = await transaction(deps.sql, [`idea:${head.idea_id}`], async (tx) => {
      const [run] = await tx<RunRow[]>`
        select id, task_id, idea_id, attempt, stage, status from codex_kb.task_runs
         where id = ${id} and status in ('submitting', 'running') for update`;
      if (!run) return false;
      const [task] = await tx<{ max_attempts: number }[]>`
        update codex_kb.tasks set max_attempts = max_attempts + 1 where id = ${run.task_id} returning max_attempts`;
      const ok = await settleRun(tx, deps.config, run, { succeeded: false, errorCode: why, errorMessage: REASONS[why], actor: 'local-mode' });
      if (!ok) {
        await tx`update codex_kb.tasks set max_attempts = max_attempts - 1 where id = ${run.task_id}`;
        return false;
      }
      // not a failure of the stage: no backoff either
      await tx`update codex_kb.tasks set not_before = null where id = ${run.task_id} and state = 'queued'`;
      const details = { runId: run.id, attempt: run.attempt, reason: why, maxAttempts: task?.max_attempts ?? null };
      await tx`
        insert into codex_kb.run_events (idea_id, run_id, task_id, event_type, actor, payload)
        values (${run.idea_id}, ${run.id}, ${run.task_id}, 'task.attempt_returned', 'local-mode', ${tx.json(details)})`;
      await appendAudit(tx, { actor: 'local-mode', action: 'task.attempt_returned', subjectType: 'task', subjectId: run.task_id, ideaId: run.idea_id, details: { ...details, message: REASONS[why] } });
      return true;
    });
    if (settled) n++;
  }
  return n;
}

/**
 * A stage process that ended without reporting completion (crashed, killed from outside):
 * a real failure of the stage, retried with backoff and counted like any other, at once
 * rather than after the heartbeat timeout. Returns whether a run was settled.
 */
export async function settleExited(deps: RecoverDeps, workflow: string, how: string): Promise<boolean> {
  const [run] = await deps.sql<{ id: string; idea_id: string }[]>`
    select id, idea_id from codex_kb.task_runs where external_run_id = ${workflow} and status in ('submitting', 'running')`;
  if (!run) return false;
  return transaction(deps.sql, [`idea:${run.idea_id}`], (tx) =>
    settleRun(tx, deps.config, run.id, {
      succeeded: false,
      errorCode: 'stage_exited',
      errorMessage: `the stage process ${how} without reporting completion`,
      actor: 'local-runner',
    }).then((became) => became !== false),
  );
}
