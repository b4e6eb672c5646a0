// Supersession: a corrected fact stops coming back.
//
// The rule. Two live lessons contradict when they are about the same repository and stage,
// their paths overlap (`&&`, so a lesson without paths never contradicts anything), and one
// comes from a run that failed, the other from a run that succeeded (a cancelled run says
// nothing about the code: it neither supersedes nor is superseded). Of two contradicting
// lessons the later one — ordered by when its run ended, then by run id, never by when the
// KB happened to reflect on it — is what is true now: the earlier one gets `superseded_by`
// the later one. So "implementation of src/a.ts failed: test X fails because Y" followed by
// an implementation of src/a.ts that succeeded is superseded; and a success followed by a
// failure on the same paths is superseded by the failure, until a later success comes.
//
// Order-independence: passes may reflect runs out of order (several instances, retries
// after backoff), so a new lesson both supersedes the earlier contradicting ones and is
// itself born superseded when a later contradicting lesson is already stored. Which lessons
// stay live is the same whatever order the runs were reflected in. Callers hold the
// repository's lock (`kb:lessons:<repository>`) so two passes never miss each other's.
import type { Tx } from '../db/index.js';

export const CONTRADICTING = ['succeeded', 'failed'] as const;

export function lessonsLock(repository: string): string {
  return `kb:lessons:${repository}`;
}

/** Applies the rule to reflection `id` (just written); returns how many lessons it superseded. */
export async function supersede(tx: Tx, id: string): Promise<number> {
  const [me] = await tx<{ repository: string | null; stage: string | null; outcome: string | null; paths: string[] }[]>`
    select repository, stage, outcome, paths from codex_kb.reflections where id = ${id}`;
  if (!me || !me.repository || !me.stage || !me.outcome || !(CONTRADICTING as readonly string[]).includes(me.outcome) || me.paths.length === 0) return 0;
  // the ordering key of a lesson: when its run ended (a synthetic one: when it was written), then the run id
  const earlier = await tx`
    with k as (
      select r.id, coalesce(tr.completed_at, r.created_at) as at, coalesce(r.run_id::text, r.id::text) as tie
        from codex_kb.reflections r left join codex_kb.task_runs tr on tr.id = r.run_id
       where r.repository = ${me.repository} and r.stage = ${me.stage} and r.superseded_by is null
         and r.outcome in ('succeeded', 'failed') and r.outcome <> ${me.outcome} and r.paths && ${me.paths}::text[]),
    mine as (
      select coalesce(tr.completed_at, r.created_at) as at, coalesce(r.run_id::text, r.id::text) as tie
        from codex_kb.reflections r left join codex_kb.task_runs tr on tr.id = r.run_id where r.id = ${id})
    update codex_kb.reflections e set superseded_by = ${id}, superseded_at = now()
      from k, mine
     where e.id = k.id and (k.at, k.tie) < (mine.at, mine.tie)
    returning e.id`;
  // a later contradicting lesson already stored (reflected first): this one is born superseded by the earliest of them
  await tx`
    with mine as (
      select coalesce(tr.completed_at, r.created_at) as at, coalesce(r.run_id::text, r.id::text) as tie
        from codex_kb.reflections r left join codex_kb.task_runs tr on tr.id = r.run_id where r.id = ${id}),
    later as (
      select r.id from codex_kb.reflections r left join codex_kb.task_runs tr on tr.id = r.run_id, mine
       where r.repository = ${me.repository} and r.stage = ${me.stage} and r.id <> ${id}
         and r.outcome in ('succeeded', 'failed') and r.outcome <> ${me.outcome} and r.paths && ${me.paths}::text[]
         and (coalesce(tr.completed_at, r.created_at), coalesce(r.run_id::text, r.id::text)) > (mine.at, mine.tie)
       order by coalesce(tr.completed_at, r.created_at), coalesce(r.run_id::text, r.id::text) limit 1)
    update codex_kb.reflections set superseded_by = later.id, superseded_at = now()
      from later where codex_kb.reflections.id = ${id} and codex_kb.reflections.superseded_by is null`;
  return earlier.length;
}
