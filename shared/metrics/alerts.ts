// Alerts as outbox events (topic `config.topics.events`), raised by the dispatch tick:
//
//   facteur.alert.stuck             an idea without progress for FACTEUR_STUCK_MINUTES, once per
//                                   such stretch of minutes while it stays stuck, with the tasks
//                                   it waits on (the existing `facteur.idea.stuck` event is
//                                   written beside it, unchanged)
//   facteur.alert.repeated_failure  the same failure (repository, error code, facteur-agent's
//                                   signature) FACTEUR_ALERT_FAILURE_COUNT times within
//                                   FACTEUR_ALERT_FAILURE_WINDOW_MINUTES; again only after a window
//                                   without an alert for it
//   facteur.alert.regression        each deploy regression detected (shared/intake/facts.ts)
//
// Every event's data is `{ ideaId?, repository?, kind, message, details }`. Exactly once per
// occurrence: each one is a row of codex_kb.alerts, unique by (kind, subject, occurrence),
// inserted in the statement that writes its event; and the evaluation runs under one
// transaction-scoped advisory lock, so two ticks racing on separate connections take turns
// and the second sees what the first raised (test/metrics/alerts.test.ts).
import type { Config } from '../config/index.js';
import { transaction, type Sql, type Tx } from '../db/index.js';
import { failedRuns } from '../status/failures.js';

export type AlertsConfig = Pick<Config, 'lifecycle' | 'topics' | 'alerts'>;

export const ALERT_KINDS = ['stuck', 'repeated_failure', 'regression'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export interface AlertsReport {
  readonly stuck: number;
  readonly repeatedFailures: number;
  readonly regressions: number;
}

/** How far back regressions are looked for: a tick that did not run for days still raises them. */
const REGRESSION_LOOKBACK_DAYS = 7;
/** At most this many alerts of each kind per tick; the rest wait for the next tick. */
const BATCH = 100;
const SOURCE = '/facteur/dispatch';

export async function evaluateAlerts(sql: Sql, config: AlertsConfig): Promise<AlertsReport> {
  return transaction(sql, ['alerts:evaluate'], async (tx) => ({
    stuck: await raiseStuck(tx, config),
    repeatedFailures: await raiseRepeatedFailures(tx, config),
    regressions: await raiseRegressions(tx, config),
  }));
}

/**
 * The occurrence of a stuck idea is its stretch without progress (since `last_progress_at`)
 * and how many whole windows of FACTEUR_STUCK_MINUTES it has lasted: one alert per window.
 */
async function raiseStuck(tx: Tx, config: AlertsConfig): Promise<number> {
  const minutes = config.lifecycle.stuckMinutes;
  const topic = config.topics.events;
  const rows = await tx`
    with candidate as (
      select id, status, repository, last_progress_at,
             to_char(last_progress_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '/'
               || floor(extract(epoch from (now() - last_progress_at)) / (${minutes}::int * 60))::bigint as occurrence
        from codex_kb.ideas
       where status not in ('completed', 'cancelled', 'failed', 'paused', 'blocked', 'awaiting_approval')
         and last_progress_at < now() - make_interval(mins => ${minutes}::int)
    ), s as (
      select c.* from candidate c
       where not exists (select 1 from codex_kb.alerts a where a.kind = 'stuck' and a.subject = c.id::text and a.occurrence = c.occurrence)
       order by c.last_progress_at, c.id limit ${BATCH}
    ), raised as (
      insert into codex_kb.alerts (kind, subject, occurrence, idea_id, repository, event_id)
      select 'stuck', s.id::text, s.occurrence, s.id, s.repository, gen_random_uuid() from s
      on conflict (kind, subject, occurrence) do nothing
      returning idea_id, event_id
    ), legacy as (
      insert into codex_kb.outbox (type, source, subject, topic, key, data)
      select 'facteur.idea.stuck', ${SOURCE}, s.id::text, ${topic}, s.id::text,
             jsonb_build_object('ideaId', s.id, 'status', s.status, 'minutes', ${minutes}::int)
        from s join raised on raised.idea_id = s.id
    )
    insert into codex_kb.outbox (event_id, type, source, subject, topic, key, data)
    select raised.event_id, 'facteur.alert.stuck', ${SOURCE}, s.id::text, ${topic}, s.id::text,
           jsonb_build_object('ideaId', s.id, 'repository', s.repository, 'kind', 'stuck',
             'message', 'idea ' || s.id || ' (' || s.repository || ') has made no progress for '
                        || floor(extract(epoch from (now() - s.last_progress_at)) / 60)::bigint || ' minutes (status ' || s.status || ')',
             'details', jsonb_build_object('status', s.status, 'lastProgressAt', s.last_progress_at, 'thresholdMinutes', ${minutes}::int,
                                           'stuckMinutes', floor(extract(epoch from (now() - s.last_progress_at)) / 60)::bigint,
                                           -- the unfinished tasks it waits on, longest untouched first
                                           'tasks', (select coalesce(jsonb_agg(jsonb_build_object('key', t.key, 'stage', t.stage, 'state', t.state, 'updatedAt', t.updated_at)
                                                                               order by t.updated_at, t.key), '[]'::jsonb)
                                                       from (select key, stage, state, updated_at from codex_kb.tasks
                                                              where idea_id = s.id and state not in ('succeeded', 'cancelled')
                                                              order by updated_at, key limit 10) t)))
      from s join raised on raised.idea_id = s.id
    returning id`;
  return rows.length;
}

/**
 * Failures are the same when their repository, error code and failure signature (or, for a
 * failure without one, its message) are: the grouping of shared/status/failures.ts. The subject is a digest of the three, so a long
 * signature makes no long key; the occurrence is the failure that made the count.
 */
async function raiseRepeatedFailures(tx: Tx, config: AlertsConfig): Promise<number> {
  const { failureCount, failureWindowMinutes } = config.alerts;
  const topic = config.topics.events;
  const rows = await tx`
    with f as (${failedRuns(tx, failureWindowMinutes)}), g as (
      select repository, code, signature, count(*)::int as n,
             md5(repository || E'\n' || code || E'\n' || signature) as subject,
             (array_agg(id order by completed_at desc, id desc))[1]::text as occurrence,
             (array_agg(id order by completed_at desc, id desc))[1:10] as runs,
             array_agg(distinct idea_id) as ideas
        from f group by repository, code, signature having count(*) >= ${failureCount}::int
    ), s as (
      select g.* from g
       where not exists (select 1 from codex_kb.alerts a where a.kind = 'repeated_failure' and a.subject = g.subject
                           and a.raised_at > now() - make_interval(mins => ${failureWindowMinutes}::int))
       order by g.subject limit ${BATCH}
    ), raised as (
      insert into codex_kb.alerts (kind, subject, occurrence, idea_id, repository, event_id)
      select 'repeated_failure', s.subject, s.occurrence, case when cardinality(s.ideas) = 1 then s.ideas[1] end, s.repository, gen_random_uuid() from s
      on conflict (kind, subject, occurrence) do nothing
      returning subject, event_id, idea_id
    )
    insert into codex_kb.outbox (event_id, type, source, subject, topic, key, data)
    select raised.event_id, 'facteur.alert.repeated_failure', ${SOURCE}, coalesce(raised.idea_id::text, s.repository), ${topic},
           coalesce(raised.idea_id::text, s.repository),
           jsonb_build_object('repository', s.repository, 'kind', 'repeated_failure',
             'message', s.code || ' failed ' || s.n || ' times in ' || ${failureWindowMinutes}::int || ' minutes in ' || s.repository || ': ' || left(s.signature, 300),
             'details', jsonb_build_object('code', s.code, 'signature', s.signature, 'count', s.n, 'threshold', ${failureCount}::int,
                                           'windowMinutes', ${failureWindowMinutes}::int, 'runIds', to_jsonb(s.runs), 'ideaIds', to_jsonb(s.ideas)))
           || case when raised.idea_id is null then '{}'::jsonb else jsonb_build_object('ideaId', raised.idea_id) end
      from s join raised on raised.subject = s.subject
    returning id`;
  return rows.length;
}

/** One alert per regression detected: the occurrence is its timeline entry. */
async function raiseRegressions(tx: Tx, config: AlertsConfig): Promise<number> {
  const topic = config.topics.events;
  const rows = await tx`
    with s as (
      select e.id::text as occurrence, e.idea_id, e.payload, e.emitted_at, i.repository, i.deployed_version
        from codex_kb.run_events e join codex_kb.ideas i on i.id = e.idea_id
       where e.event_type = 'monitoring.regression_detected' and e.emitted_at >= now() - make_interval(days => ${REGRESSION_LOOKBACK_DAYS})
         and not exists (select 1 from codex_kb.alerts a where a.kind = 'regression' and a.subject = e.idea_id::text and a.occurrence = e.id::text)
       order by e.id limit ${BATCH}
    ), raised as (
      insert into codex_kb.alerts (kind, subject, occurrence, idea_id, repository, event_id)
      select 'regression', s.idea_id::text, s.occurrence, s.idea_id, s.repository, gen_random_uuid() from s
      on conflict (kind, subject, occurrence) do nothing
      returning occurrence, event_id
    )
    insert into codex_kb.outbox (event_id, type, source, subject, topic, key, data)
    select raised.event_id, 'facteur.alert.regression', ${SOURCE}, s.idea_id::text, ${topic}, s.idea_id::text,
           jsonb_build_object('ideaId', s.idea_id, 'repository', s.repository, 'kind', 'regression',
             'message', 'deploy ' || coalesce(s.deployed_version, '?') || ' of ' || s.repository || ' regressed; remediation opened',
             'details', jsonb_build_object('deployedVersion', s.deployed_version, 'detectedAt', s.emitted_at,
                                           'breaches', coalesce(s.payload->'breaches', '[]'::jsonb)))
      from s join raised on raised.occurrence = s.occurrence
    returning id`;
  return rows.length;
}
