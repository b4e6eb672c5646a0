// Stage spans of runs ended outside settleRun (an operator's cancel, a budget stop), which
// settleRun's own statement returns for itself: read once more, recorded after the commit.
import { afterCommit, type Tx } from '../db/index.js';
import { recordStageSpan, type EndedRun } from '../telemetry/stage.js';

export async function recordStageSpansOnCommit(tx: Tx, runIds: readonly string[]): Promise<void> {
  if (runIds.length === 0) return;
  const rows = await tx<EndedRun[]>`
    select r.id, r.idea_id, t.key as task_key, r.stage, r.attempt, r.status, r.external_run_id, r.queued_at, r.submitted_at,
           r.started_at, r.completed_at, r.cost_usd, r.usage, r.error_code, r.trace_context, i.trace_context as idea_trace_context
      from codex_kb.task_runs r join codex_kb.tasks t on t.id = r.task_id join codex_kb.ideas i on i.id = r.idea_id
     where r.id = any(${runIds as string[]}::uuid[])`;
  afterCommit(tx, () => rows.forEach(recordStageSpan));
}
