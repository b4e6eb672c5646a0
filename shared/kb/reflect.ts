// The pass's first step: a reflection for every run that ended (codex_kb.kb_backlog, filled by
// a trigger in the transaction that ended the run).
//
// Exactly once: a batch of due rows is claimed `for update skip locked` (concurrent passes
// take different rows, none waits), and each row's reflections are written and the row
// deleted in the batch's one transaction — a pass that dies before its commit leaves the
// rows as they were, to the next pass; one that commits has done the work and removed its
// rows. The unique indexes (one Facteur reflection per run, one per artifact) back this up.
// A row whose work fails is rolled back to its savepoint alone and kept, with its attempts,
// the time of its next try (exponential backoff) and the error, while the rest of the batch
// commits.
import type { Tx } from '../db/index.js';
import { lockXact, transaction } from '../db/index.js';
import { messageOf } from '../errors/index.js';
import type { KbDeps, KbStep } from './deps.js';
import { capText, composeRunReflection } from './reflection-text.js';
import { artifactLessons, loadRun } from './run-facts.js';
import { lessonsLock, supersede } from './supersede.js';

/** A step stops taking batches after this long, so one pass cannot run forever (the next pass goes on). */
export const STEP_BUDGET_MS = 20_000;

export interface Reflected {
  readonly runs: number;
  readonly reflections: number;
  readonly failed: number;
}

/** Reflects one batch of due backlog rows; `runs` 0 means nothing was due. */
export async function reflectBatch(deps: KbDeps): Promise<Reflected> {
  const cfg = deps.config.kbStore;
  return transaction(deps.sql, [], async (tx) => {
    const rows = await tx<{ run_id: string; attempts: number; repository: string }[]>`
      select b.run_id, b.attempts, coalesce(nullif(r.repository, ''), t.repository) as repository
        from codex_kb.kb_backlog b
        join codex_kb.task_runs r on r.id = b.run_id
        join codex_kb.tasks t on t.id = r.task_id
       where b.next_attempt_at <= now()
       order by b.next_attempt_at, b.run_id
       limit ${cfg.batch}
       for update of b skip locked`;
    if (rows.length === 0) return { runs: 0, reflections: 0, failed: 0 };
    // every repository's lesson lock at once, in sorted order (lockXact), so two batches never deadlock
    await lockXact(tx, ...rows.map((r) => lessonsLock(r.repository)));
    let reflections = 0;
    let failed = 0;
    for (const row of rows) {
      try {
        reflections += await tx.savepoint((sp) => reflectRun(sp as unknown as Tx, row.run_id, cfg.reflectionMaxBytes));
      } catch (err) {
        failed++;
        const waitMs = Math.min(cfg.retryMaxMs, cfg.retryBaseMs * 2 ** Math.min(row.attempts, 30));
        deps.log.warn('kb: could not reflect on a run; it is retried later', { runId: row.run_id, attempts: row.attempts + 1, waitMs, error: messageOf(err) });
        await tx`
          update codex_kb.kb_backlog
             set attempts = attempts + 1, last_error = ${messageOf(err).slice(0, 2000)},
                 next_attempt_at = now() + make_interval(secs => ${waitMs / 1000})
           where run_id = ${row.run_id}`;
      }
    }
    return { runs: rows.length - failed, reflections, failed };
  });
}

/** The run's reflections (Facteur's, and one per reflection artifact), then its backlog row removed. */
async function reflectRun(tx: Tx, runId: string, maxBytes: number): Promise<number> {
  const run = await loadRun(tx, runId);
  let written = 0;
  if (run) {
    const base = { idea: run.ideaId, task: run.taskId, run: run.id, repository: run.repository, stage: run.stage, outcome: run.status };
    const own = capText(composeRunReflection(run.facts), maxBytes);
    const [mine] = await tx<{ id: string }[]>`
      insert into codex_kb.reflections (idea_id, task_id, run_id, reflection_type, content, metadata, repository, stage, outcome, paths,
                                        source, signature, content_digest, truncated)
      values (${base.idea}, ${base.task}, ${base.run}, 'run', ${own.content},
              ${tx.json({ attempt: run.facts.attempt, taskKey: run.facts.taskKey, errorCode: run.facts.errorCode, verdict: run.facts.review?.verdict ?? null })},
              ${base.repository}, ${base.stage}, ${base.outcome}, ${run.facts.paths as string[]}::text[], 'facteur', ${run.facts.signature},
              ${own.digest}, ${own.truncated})
      on conflict (run_id) where source = 'facteur' do nothing
      returning id`;
    const ids = mine ? [mine.id] : [];
    for (const lesson of await artifactLessons(tx, runId, maxBytes)) {
      const capped = capText(lesson.text, maxBytes, lesson.bytes);
      const [row] = await tx<{ id: string }[]>`
        insert into codex_kb.reflections (idea_id, task_id, run_id, reflection_type, content, metadata, repository, stage, outcome, paths,
                                          source, artifact_id, signature, content_digest, truncated)
        values (${base.idea}, ${base.task}, ${base.run}, 'lesson', ${capped.content}, ${tx.json({ bytes: lesson.bytes })},
                ${base.repository}, ${base.stage}, ${base.outcome}, ${(lesson.paths ?? run.facts.paths) as string[]}::text[], 'artifact',
                ${lesson.artifactId}, ${run.facts.signature}, ${capped.digest}, ${capped.truncated})
        on conflict (artifact_id) where artifact_id is not null do nothing
        returning id`;
      if (row) ids.push(row.id);
    }
    for (const id of ids) await supersede(tx, id);
    written = ids.length;
  }
  await tx`delete from codex_kb.kb_backlog where run_id = ${runId}`;
  return written;
}

/** The step: batches until nothing is due or the step's time is up; returns the runs reflected. */
export const reflectBacklog: KbStep = async function reflect(deps) {
  const until = Date.now() + STEP_BUDGET_MS;
  let runs = 0;
  for (;;) {
    const r = await reflectBatch(deps);
    runs += r.runs;
    // a batch of nothing but failures stops here: its rows wait for their backoff
    if (r.runs + r.failed === 0 || r.runs === 0 || Date.now() > until) return runs;
  }
};
