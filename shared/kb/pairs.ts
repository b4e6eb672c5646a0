// Preference pairs (issue 10, item 5; seed 000 step 07): what a reviewer or a retry taught,
// as (context, rejected output, chosen output, reasons) rows a fine-tune can learn from.
//
//   review loop: an implementation attempt a review sent back (verdict changes_requested,
//                naming the task or all of them), then the later attempt of the same task that
//                the next approving review saw; reasons = the sending-back review's summary
//                and comments.
//   retry:       a failed attempt, then the task's next succeeded one; reasons = the failure's
//                code, message and normalized signature (facteur-agent's `[signature: …]`).
//
// The step reads only what finished runs left (runs, their artifacts, the review verdicts),
// so it can run any time, any number of times: the unique (rejected, chosen) pair makes every
// pair exactly once whatever the number of instances running the pass at once.
import type { Queryable } from '../db/index.js';
import type { KbDeps } from './deps.js';
import { summarizeRun, type RunFacts } from './run-summary.js';

/** Pairs examined per pass (each pass takes what is left; a backlog drains over passes). */
const BATCH = 200;
const CONTEXT_CAP = 8000;

interface Candidate {
  kind: 'review_loop' | 'retry';
  idea_id: string;
  task_id: string;
  rejected_run_id: string;
  chosen_run_id: string;
  review: Record<string, unknown> | null;
  review_run_id: string | null;
}

const REVIEW_VERDICT = (verdict: string) => `
  select r.id, r.idea_id, r.completed_at, a.data
    from codex_kb.task_runs r
    join lateral (select data from codex_kb.artifacts
                   where run_id = r.id and artifact_type = 'review' order by created_at desc limit 1) a on true
   where r.stage = 'review' and r.status = 'succeeded' and r.completed_at is not null and a.data->>'verdict' = '${verdict}'`;

/** Review loops not yet paired: sent back by one review, the fix seen by the next approving one. */
async function reviewLoops(sql: Queryable, limit: number): Promise<Candidate[]> {
  return sql.unsafe<Candidate[]>(`
    with sent_back as (${REVIEW_VERDICT('changes_requested')}), approved as (${REVIEW_VERDICT('approved')})
    select 'review_loop' as kind, t.idea_id, t.id as task_id, rej.id as rejected_run_id, cho.id as chosen_run_id,
           sb.data as review, sb.id as review_run_id
      from sent_back sb
      join codex_kb.tasks t on t.idea_id = sb.idea_id and t.stage = 'implementation'
       and (jsonb_typeof(sb.data->'tasks') is distinct from 'array' or jsonb_array_length(sb.data->'tasks') = 0
            or (sb.data->'tasks') ? t.key)
      join lateral (select id, attempt from codex_kb.task_runs
                     where task_id = t.id and status = 'succeeded' and completed_at <= sb.completed_at
                     order by attempt desc limit 1) rej on true
      join lateral (select completed_at from approved ap
                     where ap.idea_id = sb.idea_id and ap.completed_at > sb.completed_at
                     order by ap.completed_at limit 1) ap on true
      join lateral (select id from codex_kb.task_runs
                     where task_id = t.id and status = 'succeeded' and attempt > rej.attempt and completed_at <= ap.completed_at
                     order by attempt desc limit 1) cho on true
     where not exists (select 1 from codex_kb.preference_pairs p where p.rejected_run_id = rej.id and p.chosen_run_id = cho.id)
     order by sb.completed_at, t.key
     limit ${Math.floor(limit)}`);
}

/** Retried tasks not yet paired: each failed attempt with the task's next succeeded one. */
async function retries(sql: Queryable, limit: number): Promise<Candidate[]> {
  return sql<Candidate[]>`
    select 'retry' as kind, f.idea_id, f.task_id, f.id as rejected_run_id, s.id as chosen_run_id, null as review, null as review_run_id
      from codex_kb.task_runs f
      join lateral (select id from codex_kb.task_runs
                     where task_id = f.task_id and status = 'succeeded' and attempt > f.attempt
                     order by attempt limit 1) s on true
     where f.status = 'failed'
       and not exists (select 1 from codex_kb.preference_pairs p where p.rejected_run_id = f.id and p.chosen_run_id = s.id)
     order by f.completed_at nulls last, f.id
     limit ${limit}`;
}

/** What the run was asked to do: the task, and the idea's intent anchor (the why). */
async function contexts(sql: Queryable, taskIds: readonly string[]): Promise<Map<string, string>> {
  const rows = await sql<{ id: string; title: string; description: string; key: string; stage: string; repository: string; intent: string | null }[]>`
    select t.id, t.title, t.description, t.key, t.stage, t.repository, i.intent_anchor as intent
      from codex_kb.tasks t join codex_kb.ideas i on i.id = t.idea_id where t.id = any(${taskIds}::uuid[])`;
  return new Map(rows.map((r) => {
    const parts = [`repository: ${r.repository}`, `task ${r.key} (${r.stage}): ${r.title}`];
    if (r.description) parts.push(r.description);
    if (r.intent) parts.push(`intent:\n${r.intent}`);
    return [r.id, parts.join('\n').slice(0, CONTEXT_CAP)];
  }));
}

async function runFacts(sql: Queryable, runIds: readonly string[]): Promise<Map<string, RunFacts>> {
  const runs = await sql<{ id: string; attempt: number; status: string; error_code: string | null; error_message: string | null; output_ref: string | null }[]>`
    select id, attempt, status, error_code, error_message, output_ref from codex_kb.task_runs where id = any(${runIds}::uuid[])`;
  const artifacts = await sql<{ run_id: string; artifact_type: string; data: unknown }[]>`
    select run_id, artifact_type, data from codex_kb.artifacts
     where run_id = any(${runIds}::uuid[]) and artifact_type in ('diff-stats', 'test-report', 'reflection')
     order by created_at, id`;
  const facts = new Map<string, RunFacts>(runs.map((r) => [r.id, {
    attempt: r.attempt, status: r.status, errorCode: r.error_code, errorMessage: r.error_message, outputRef: r.output_ref, artifacts: {},
  }]));
  // the latest artifact of each kind wins (a step may report one again)
  for (const a of artifacts) {
    const f = facts.get(a.run_id);
    if (f) (f.artifacts as Record<string, unknown>)[a.artifact_type] = a.data;
  }
  return facts;
}

/** Why the rejected output lost: the review's words, or the failure's code and signature. */
export function reasonsOf(c: Pick<Candidate, 'kind' | 'review' | 'review_run_id'>, rejected: RunFacts | undefined): unknown[] {
  if (c.kind === 'review_loop') {
    const review = c.review ?? {};
    const comments = Array.isArray(review.comments) ? review.comments.slice(0, 50) : [];
    return [{
      source: 'review', reviewRunId: c.review_run_id, verdict: 'changes_requested',
      summary: typeof review.summary === 'string' ? review.summary.slice(0, 4000) : null,
      comments: comments.map((x) => {
        const o = (x && typeof x === 'object' ? x : {}) as Record<string, unknown>;
        return { path: typeof o.path === 'string' ? o.path.slice(0, 1000) : null, line: typeof o.line === 'number' ? o.line : null, body: String(o.body ?? '').slice(0, 2000) };
      }),
    }];
  }
  const message = rejected?.errorMessage ?? '';
  const signature = /\[signature: ([^\]]*)\]/.exec(message)?.[1] ?? null;
  return [{ source: 'failure', code: rejected?.errorCode ?? null, message: message.slice(0, 2000), signature }];
}

/** The pass's step: pairs every review loop and retry not yet paired, each exactly once. */
export async function assemblePairs(deps: Pick<KbDeps, 'sql' | 'log'>): Promise<number> {
  const { sql } = deps;
  const candidates = [...(await reviewLoops(sql, BATCH)), ...(await retries(sql, BATCH))];
  if (candidates.length === 0) return 0;
  const ctx = await contexts(sql, [...new Set(candidates.map((c) => c.task_id))]);
  const facts = await runFacts(sql, [...new Set(candidates.flatMap((c) => [c.rejected_run_id, c.chosen_run_id]))]);
  const rows = candidates.map((c) => ({
    idea_id: c.idea_id, task_id: c.task_id, kind: c.kind, rejected_run_id: c.rejected_run_id, chosen_run_id: c.chosen_run_id,
    context: ctx.get(c.task_id) ?? '',
    rejected: summarizeRun(facts.get(c.rejected_run_id)),
    chosen: summarizeRun(facts.get(c.chosen_run_id)),
    reasons: reasonsOf(c, facts.get(c.rejected_run_id)),
  }));
  const inserted = await sql<{ id: string }[]>`
    insert into codex_kb.preference_pairs (idea_id, task_id, kind, rejected_run_id, chosen_run_id, context, rejected, chosen, reasons)
    select r.idea_id, r.task_id, r.kind, r.rejected_run_id, r.chosen_run_id, r.context, r.rejected, r.chosen, r.reasons
      from jsonb_to_recordset(${sql.json(rows as never)}) as r(idea_id uuid, task_id uuid, kind text, rejected_run_id uuid,
           chosen_run_id uuid, context text, rejected text, chosen text, reasons jsonb)
    on conflict (rejected_run_id, chosen_run_id) do nothing
    returning id`;
  if (inserted.length) deps.log.info('kb: preference pairs assembled', { pairs: inserted.length });
  return inserted.length;
}
