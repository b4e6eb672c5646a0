// The dispatch hop and the tick: schedule then submit after commit, and the backstops
// that keep the system moving when a process died at the wrong moment.
import { expireApprovals } from '../approvals/expiry.js';
import { sealAudit } from '../audit/index.js';
import { transaction } from '../db/index.js';
import { messageOf } from '../errors/index.js';
import { settleRun } from '../lifecycle/advance.js';
import { moveIdea } from '../lifecycle/transitions.js';
import { evaluateAlerts } from '../metrics/alerts.js';
import { drainOutbox, type Publisher } from '../outbox/index.js';
import { schedule, type Claim, type Clock } from '../scheduler/index.js';
import { deleteWorkflow, submitRuns, sweepRunTokens, type DispatchDeps } from './index.js';

/** Claims what may run now and creates its workflows. */
export async function dispatchNow(deps: DispatchDeps & { readonly clock?: Clock }, opts: { ideaId?: string; max?: number } = {}): Promise<Claim[]> {
  const claims = await schedule({ sql: deps.sql, config: deps.config, clock: deps.clock, log: deps.log }, opts);
  await submitRuns(deps, claims.map((c) => c.runId));
  return claims;
}

export interface TickDeps extends DispatchDeps {
  readonly publisher?: Publisher;
  /** What retries' backoff is counted from and compared with; the database's `now()` when absent. */
  readonly clock?: Clock;
}

export interface TickReport {
  resubmitted: number;
  timedOut: number;
  completedMonitoring: number;
  stuck: number;
  /** Alerts raised (stuck, repeated failures, regressions). */
  alerts: number;
  published: number;
  sealed: number;
  dispatched: number;
  tokensAdopted: number;
  tokensDeleted: number;
  expiredApprovals: number;
}

export async function tick(deps: TickDeps): Promise<TickReport> {
  const report: TickReport = { resubmitted: 0, timedOut: 0, completedMonitoring: 0, stuck: 0, alerts: 0, published: 0, sealed: 0, dispatched: 0, tokensAdopted: 0, tokensDeleted: 0, expiredApprovals: 0 };
  const lc = deps.config.lifecycle;

  // 1. Runs committed as `submitting` whose create never happened (crash, Argo down).
  const stale = await deps.sql<{ id: string }[]>`
    select id from codex_kb.task_runs
     where status = 'submitting' and queued_at < now() - make_interval(secs => ${lc.submitStaleS})
     order by queued_at limit 100`;
  await submitRuns(deps, stale.map((r) => r.id));
  report.resubmitted = stale.length;

  // 2. Runs whose step stopped reporting: failed, and retried as a new attempt.
  const silent = await deps.sql<{ id: string; idea_id: string; external_run_id: string | null }[]>`
    select id, idea_id, external_run_id from codex_kb.task_runs
     where status = 'running'
       and coalesce(last_heartbeat_at, started_at, submitted_at, queued_at) < now() - make_interval(secs => ${lc.heartbeatTimeoutS})
     order by queued_at limit 100`;
  for (const r of silent) {
    const settled = await transaction(deps.sql, [`idea:${r.idea_id}`], async (tx) => {
      return settleRun(tx, deps.config, r.id, {
        succeeded: false,
        errorCode: 'heartbeat_timeout',
        errorMessage: `no heartbeat for ${lc.heartbeatTimeoutS}s`,
        actor: 'tick',
      }, { clock: deps.clock });
    });
    if (settled) {
      report.timedOut++;
      if (r.external_run_id) await deleteWorkflow(deps, r.external_run_id).catch((err) => deps.log.warn('tick: could not delete a timed-out workflow', { workflow: r.external_run_id, error: messageOf(err) }));
    }
  }

  // 3. Monitoring windows that ended without a regression.
  const done = await deps.sql<{ id: string }[]>`
    select id from codex_kb.ideas where status = 'monitoring' and monitoring_until <= now() limit 100`;
  for (const i of done) {
    const moved = await transaction(deps.sql, [`idea:${i.id}`], async (tx) => {
      return moveIdea(tx, i.id, 'monitoring', 'completed', 'monitoring window elapsed without regression');
    });
    if (moved) report.completedMonitoring++;
  }

  // 3b. Approvals nobody decided in time: expired, then blocked or asked again (shared/approvals).
  report.expiredApprovals = await expireApprovals(deps.sql, { eventsTopic: deps.config.topics.events });

  // 4. Alerts (shared/metrics/alerts.ts): stuck ideas (and `facteur.idea.stuck`), the same
  //    failure repeated, deploy regressions; each occurrence once, however many ticks race.
  const alerts = await evaluateAlerts(deps.sql, deps.config);
  report.stuck = alerts.stuck;
  report.alerts = alerts.stuck + alerts.repeatedFailures + alerts.regressions;

  // 5. The outbox, to Kafka (or local mode's in-process bus).
  if (deps.publisher) report.published = await drainOutbox(deps.sql, deps.publisher).catch((err) => {
    deps.log.warn('tick: outbox relay failed; events stay queued', { error: messageOf(err) });
    return 0;
  });

  // 6. Seal the audit log up to the oldest running transaction.
  report.sealed = (await sealAudit(deps.sql))?.entryCount ?? 0;

  // 7. And start whatever may run now.
  report.dispatched = (await dispatchNow(deps)).length;

  // 8. Run-token Secrets a submission left without an owner: adopted by their Workflow, or
  //    deleted once old and their run finished (shared/dispatch/index.ts).
  const swept = await sweepRunTokens(deps).catch((err) => {
    deps.log.warn('tick: run token sweep failed', { error: messageOf(err) });
    return { adopted: 0, deleted: 0 };
  });
  report.tokensAdopted = swept.adopted;
  report.tokensDeleted = swept.deleted;
  return report;
}
