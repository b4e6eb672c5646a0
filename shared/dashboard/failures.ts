// The failures page: failed runs grouped by facteur-agent's failure signature, per
// repository, the most frequent first, so a failure that keeps coming back across ideas is one
// row, not fifty. The grouping is shared/status/failures.ts's (the same as `GET /v1/failures`
// and the repeated-failure alert): repository, error code, and the signature facteur-agent
// reports in the run's error message (`<message> [signature: <normalized line>]`); runs
// failed by the control plane (timeouts, budget stops) have none and are grouped by message.
import type { Queryable } from '../db/index.js';
import { failureClusters, type FailureCluster } from '../status/failures.js';
import { badge, h, time, type Html } from './html.js';

export const FAILURE_DAYS = 14;

export async function loadFailures(sql: Queryable, days = FAILURE_DAYS): Promise<FailureCluster[]> {
  return failureClusters(sql, { days, limit: 200 });
}

export function renderFailures(groups: readonly FailureCluster[]): Html {
  return h`<h1>Failures</h1>
<p class="muted">Failed runs of the last ${FAILURE_DAYS} days, grouped by repository, error code and failure signature (facteur-agent's normalized error line), the most frequent first. The same groups as <code>GET /v1/failures</code>.</p>
${groups.length === 0 ? h`<p class="muted">No failed run.</p>` : h`<table class="failures"><thead><tr><th>signature</th><th>repository</th><th>code</th><th>stages</th><th>runs</th><th>ideas</th><th>first</th><th>last</th><th>latest runs</th></tr></thead><tbody>
${groups.map((g) => h`<tr><td>${g.signature ? h`<code>${g.signature}</code>` : h`<span class="muted">(no signature)</span> ${g.message}`}</td><td>${g.repository}</td><td>${badge('failed')} ${g.code}</td><td>${g.stages.join(', ')}</td><td>${g.count}</td><td>${g.ideas}</td><td>${time(g.firstSeen)}</td><td>${time(g.lastSeen)}</td><td>${g.examples.map((e, i) => h`${i ? ' ' : ''}<a href="run?id=${e.runId}">${i === 0 ? 'open' : String(i + 1)}</a>`)}</td></tr>`)}
</tbody></table>`}`;
}
