// Reuse measured: once a run that was given lessons has ended, what came of it is credited to
// each lesson injected into it, once (the retrieval's `scored_at` is set in the transaction
// that moves the counts, and only a retrieval still unscored is claimed, SKIP LOCKED, so two
// passes never credit a run twice).
//
// What a run's outcome is, from what the control plane can read when it ends:
//   helped   the run succeeded, its test reports all passed, a review it made approved, and
//            no regression was reported on its idea since it ended;
//   hurt     the run failed, a test report of it did not pass, its review requested changes,
//            or a regression was reported on its idea since it ended;
//   neutral  the run was cancelled (nothing is learned from a stop a person asked for).
// A regression found later, in the monitoring window, is not read back: the score is given
// when the run ends. Usefulness is (helped − hurt) / (helped + hurt + 2), in (−1, 1): a
// lesson tried twice with failures sits at −0.5, and retrieval (fusion.ts) weighs it down.
import type { KbStep } from './deps.js';

export type RunOutcome = 'helped' | 'hurt' | 'neutral';

const BATCH = 100;

/** Scores the retrievals of ended runs not yet scored; returns how many it scored. */
export const scoreRetrievals: KbStep = async (deps) => {
  let scored = 0;
  for (;;) {
    const n = await deps.sql.begin(async (tx) => {
      const rows = await tx<{ run_id: string; injected: string[]; outcome: RunOutcome }[]>`
        select k.run_id::text as run_id, k.injected::text[] as injected,
               case
                 when r.status = 'cancelled' then 'neutral'
                 when r.status = 'failed' then 'hurt'
                 when exists (select 1 from codex_kb.artifacts a where a.run_id = r.id and a.artifact_type = 'test-report' and a.data->>'passed' = 'false') then 'hurt'
                 when exists (select 1 from codex_kb.artifacts a where a.run_id = r.id and a.artifact_type = 'review' and a.data->>'verdict' = 'changes_requested') then 'hurt'
                 when exists (select 1 from codex_kb.run_events e where e.idea_id = r.idea_id and e.event_type = 'monitoring.regression_detected'
                                 and e.emitted_at >= coalesce(r.completed_at, k.created_at)) then 'hurt'
                 else 'helped'
               end as outcome
          from codex_kb.kb_retrievals k join codex_kb.task_runs r on r.id = k.run_id
         where k.scored_at is null and r.status in ('succeeded', 'failed', 'cancelled')
         order by k.created_at, k.run_id
         limit ${BATCH}
           for update of k skip locked`;
      for (const row of rows) {
        const [claimed] = await tx<{ run_id: string }[]>`
          update codex_kb.kb_retrievals set scored_at = now(), outcome = ${row.outcome}
           where run_id = ${row.run_id} and scored_at is null returning run_id`;
        if (!claimed || row.injected.length === 0) continue;
        const helped = row.outcome === 'helped' ? 1 : 0;
        const hurt = row.outcome === 'hurt' ? 1 : 0;
        await tx`
          update codex_kb.reflections
             set injected_count = injected_count + 1,
                 helped_count = helped_count + ${helped}::int,
                 hurt_count = hurt_count + ${hurt}::int,
                 usefulness = ((helped_count + ${helped}::int) - (hurt_count + ${hurt}::int))::real
                              / ((helped_count + ${helped}::int) + (hurt_count + ${hurt}::int) + 2)
           where id = any(${row.injected}::uuid[])`;
      }
      return rows.length;
    });
    scored += n;
    if (n < BATCH) break;
  }
  if (scored > 0) deps.log.info('kb: retrievals scored against their runs\' outcomes', { scored });
  return scored;
};
