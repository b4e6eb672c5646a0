// Where a chaos run's time goes. The load is bound by the limits (32 active runs at most), so
// its duration follows the run-seconds its runs held a slot for: from the claim (the run is
// inserted `submitting`) to its end. A run that waits out a heartbeat timeout, or whose create
// is retried through an API outage, holds its slot the whole time. The STATS line adds them up
// by how the run ended, for the baseline and the faulted run to be compared.
import type { Sql } from '../../shared/db/index.js';

export interface Ending {
  readonly ending: string;
  readonly runs: number;
  readonly seconds: number;
}

export async function runSeconds(db: Sql): Promise<Ending[]> {
  return db<Ending[]>`
    select case when status = 'succeeded' then status else status || coalesce(':' || error_code, '') end as ending,
           count(*)::int as runs,
           coalesce(sum(extract(epoch from completed_at - queued_at)), 0)::float8 as seconds
      from codex_kb.task_runs
     where completed_at is not null
     group by 1
     order by 3 desc`;
}

/** `STATS run_seconds=… runs=… slot_bound_s=… (by ending: …)`; slot_bound_s is the total over the global limit. */
export function occupancyLine(endings: readonly Ending[], globalLimit: number): string {
  const seconds = endings.reduce((a, e) => a + e.seconds, 0);
  const runs = endings.reduce((a, e) => a + e.runs, 0);
  const by = endings.slice(0, 8).map((e) => `${e.ending} ${e.runs} runs ${e.seconds.toFixed(0)}s (mean ${(e.seconds / e.runs).toFixed(1)}s)`);
  const bound = Number.isFinite(globalLimit) ? ` slot_bound_s=${(seconds / globalLimit).toFixed(0)}` : '';
  return `STATS run_seconds=${seconds.toFixed(0)} runs=${runs}${bound} (by ending: ${by.join(', ')})`;
}
