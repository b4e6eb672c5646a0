// The failures page: failed runs grouped by facteur-agent's failure signature, the most
// frequent first, so a failure that keeps coming back across ideas is one row, not fifty.
// facteur-agent reports a failure as `<message> [signature: <normalized line>]` in the run's
// error message (shared/agent/cli.ts); runs failed by the control plane (timeouts, budget
// stops) have no signature and are grouped by their error code.
import type { Queryable } from '../db/index.js';
import { badge, h, time, type Html } from './html.js';

export interface FailureGroup {
  readonly signature: string | null;
  readonly error_code: string | null;
  readonly stage: string;
  readonly runs: number;
  readonly ideas: number;
  readonly last_at: Date | null;
  readonly sample_run: string;
  readonly sample_message: string | null;
}

export async function loadFailures(sql: Queryable, days = 14): Promise<FailureGroup[]> {
  return sql<FailureGroup[]>`
    with failed as (
      select id, idea_id, stage, error_code, error_message, completed_at,
             substring(error_message from '\\[signature: (.*)\\]$') as signature
        from codex_kb.task_runs
       where status = 'failed' and coalesce(completed_at, queued_at) > now() - make_interval(days => ${days}))
    select signature, error_code, stage, count(*)::int as runs, count(distinct idea_id)::int as ideas, max(completed_at) as last_at,
           (array_agg(id order by completed_at desc nulls last))[1] as sample_run,
           (array_agg(error_message order by completed_at desc nulls last))[1] as sample_message
      from failed group by signature, error_code, stage order by runs desc, last_at desc nulls last limit 200`;
}

export function renderFailures(groups: readonly FailureGroup[]): Html {
  return h`<h1>Failures</h1>
<p class="muted">Failed runs of the last 14 days, grouped by failure signature (facteur-agent's normalized error line), the most frequent first.</p>
${groups.length === 0 ? h`<p class="muted">No failed run.</p>` : h`<table class="failures"><thead><tr><th>signature</th><th>code</th><th>stage</th><th>runs</th><th>ideas</th><th>last</th><th>latest run</th></tr></thead><tbody>
${groups.map((g) => h`<tr><td>${g.signature ? h`<code>${g.signature}</code>` : h`<span class="muted">(no signature)</span> ${g.sample_message ?? ''}`}</td><td>${badge('failed')} ${g.error_code ?? ''}</td><td>${g.stage}</td><td>${g.runs}</td><td>${g.ideas}</td><td>${time(g.last_at?.toISOString())}</td><td><a href="run?id=${g.sample_run}">open</a></td></tr>`)}
</tbody></table>`}`;
}
