// Retrieval into prompts: before a planning, implementation or review run is dispatched, the
// lessons most like its task go into its Workflow's retrievedContext (the intent anchor is a
// parameter of its own and is not touched here), and the decision is kept — every candidate
// with its scores, what was injected and why the rest was not, the embedding version, the
// latency, whether it ran degraded — once per run: in kb_retrievals (its primary key decides
// between two dispatch instances and a retried submission, and the loser gives the winner's
// context, so a resubmitted Workflow says the same), with a `kb.retrieval` run event and a
// `kb.retrieval` row in policy_checks written in the same transaction.
//
// Never in a run's way: an embedder that fails or is slow makes the retrieval full-text only
// (`degraded`), a failing knowledge base gives an empty context; both are logged and the
// run is dispatched all the same.
import type { Config } from '../config/index.js';
import type postgres from 'postgres';
import type { Queryable, Sql } from '../db/index.js';
import { messageOf, RetryableError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { searchLessons, type SearchResult } from './candidates.js';
import type { ActiveVersion } from './versions.js';
import { formatContext } from './context.js';
import type { Embedder } from './embed/types.js';
import type { Reason, Scored } from './fusion.js';

/** The stages whose runs are given lessons (integration and deploy act on what is decided). */
export const RETRIEVAL_STAGES: ReadonlySet<string> = new Set(['planning', 'implementation', 'review']);

export interface RetrieveDeps {
  readonly sql: Sql;
  readonly log: Logger;
  readonly config: Pick<Config, 'kbRetrieve'>;
  /** The configured embedder; without one (or of another version than the active) the retrieval is full-text only. */
  readonly embedder?: Embedder;
}

export interface RunToRetrieveFor {
  readonly runId: string;
  readonly ideaId: string;
  readonly taskId: string;
  readonly stage: string;
  readonly repository: string;
  /** What the run is about (retrievalQuery builds it from the task). */
  readonly query: string;
  readonly paths: readonly string[];
  /**
   * What the one read below answers, when the caller's own read of the run asked it already
   * (dispatch's, shared/dispatch: the same two subqueries, one round trip fewer per hop).
   */
  readonly known?: KnownRetrieval;
}

/** The run's earlier decision (its context, null when none) and the active embedding version. */
export interface KnownRetrieval {
  readonly context: string | null;
  readonly active: ActiveVersion | null;
}

/**
 * The one read's two columns, `kb_context` and `kb_active` (a KnownRetrieval), for the run
 * that `runId` names: a parameter here, a column of dispatch's read of its runs there.
 */
export function knownRetrievalColumns(sql: Queryable, runId: postgres.Fragment): postgres.Fragment {
  return sql`(select k.context from codex_kb.kb_retrievals k where k.run_id = ${runId}) as kb_context,
             (select to_jsonb(v) from (select version, provider, model, dimensions, state
                                         from codex_kb.embedding_versions where active) v) as kb_active`;
}

/** The text a run's lessons are searched by: the idea's and the task's words, and its paths. */
export function retrievalQuery(t: { ideaTitle?: string | null; title?: string | null; description?: string | null; prompt?: string | null; paths?: unknown }): string {
  const paths = Array.isArray(t.paths) ? t.paths.filter((p): p is string => typeof p === 'string') : [];
  return [t.ideaTitle, t.title, t.description, t.prompt, paths.join(' ')].filter((s): s is string => typeof s === 'string' && s.length > 0).join('\n').slice(0, 4000);
}

export interface CandidateRecord {
  readonly id: string;
  readonly stage: string | null;
  readonly outcome: string | null;
  readonly vectorDistance: number | null;
  readonly vectorRank: number | null;
  readonly textScore: number | null;
  readonly textRank: number | null;
  readonly pathOverlap: boolean;
  readonly usefulness: number;
  readonly fused: number;
  readonly injected: boolean;
  readonly reason: Reason;
  readonly duplicateOf?: string;
}

export interface Decision {
  readonly context: string;
  readonly bytes: number;
  readonly candidates: readonly CandidateRecord[];
  readonly injected: readonly string[];
}

/** What of the ranked candidates goes in: the top N that are no duplicates, as long as they fit. */
export function decide(repository: string, ranked: readonly Scored[], topN: number): Decision {
  const eligible = ranked.filter((c) => c.duplicateOf === null).slice(0, topN);
  const formatted = formatContext(repository, eligible);
  const injected = new Set(formatted.included);
  const overBudget = new Set(formatted.overBudget);
  const candidates = ranked.map((c): CandidateRecord => ({
    id: c.id,
    stage: c.stage,
    outcome: c.outcome,
    vectorDistance: c.vectorDistance,
    vectorRank: c.vectorRank,
    textScore: c.textScore,
    textRank: c.textRank,
    pathOverlap: c.pathOverlap,
    usefulness: c.usefulness,
    fused: c.fused,
    injected: injected.has(c.id),
    reason: injected.has(c.id) ? 'injected' : c.duplicateOf !== null ? 'duplicate' : overBudget.has(c.id) ? 'budget' : 'rank',
    ...(c.duplicateOf !== null ? { duplicateOf: c.duplicateOf } : {}),
  }));
  return { context: formatted.text, bytes: formatted.bytes, candidates, injected: formatted.included };
}

/**
 * The run's retrievedContext: its recorded decision when there is one (a retried
 * submission), else a new retrieval, recorded once. A Workflow is only ever built from a
 * recorded decision, so every Workflow of a run carries the same bytes: a retrieval that fails
 * is recorded as an empty, degraded decision (the run goes out without lessons, and a later
 * resubmission reuses that, instead of deciding again beside a Workflow that may have landed
 * — found by the chaos invariant kb_context). Only when not even that can be recorded (the
 * database is away) does this throw a RetryableError: the submission waits for the tick.
 */
export async function retrievedContextFor(deps: RetrieveDeps, run: RunToRetrieveFor): Promise<string> {
  if (!deps.config.kbRetrieve.enabled || !RETRIEVAL_STAGES.has(run.stage)) return '';
  let result: SearchResult;
  let decision: Decision;
  try {
    // one read: an earlier decision, and the active embedding version a new one searches under
    const [seen] = run.known
      ? [run.known]
      : (await deps.sql<{ kb_context: string | null; kb_active: ActiveVersion | null }[]>`
          select ${knownRetrievalColumns(deps.sql, deps.sql`${run.runId}::uuid`)}`).map((r): KnownRetrieval => ({ context: r.kb_context, active: r.kb_active }));
    if (seen?.context != null) return seen.context;
    result = await searchLessons(deps, { query: run.query, repository: run.repository, paths: run.paths, activeVersion: seen?.active ?? null });
    decision = decide(run.repository, result.candidates, deps.config.kbRetrieve.topN);
    if (result.degraded) deps.log.warn('kb: retrieval degraded to full text', { runId: run.runId, degraded: result.degraded });
  } catch (err) {
    deps.log.error('kb: retrieval failed; the run is dispatched without retrieved context', { runId: run.runId, error: messageOf(err) });
    result = { candidates: [], version: null, degraded: `kb_unavailable: ${messageOf(err).slice(0, 200)}`, latencyMs: 0 };
    decision = decide(run.repository, [], deps.config.kbRetrieve.topN);
  }
  try {
    return await record(deps.sql, run, result, decision);
  } catch (err) {
    throw new RetryableError('kb_unrecorded', `the run's retrieval decision could not be recorded: ${messageOf(err)}`);
  }
}

/**
 * Writes the decision unless another instance did first; returns the context that stands.
 * One statement (the decision, its timeline entry and its policy check, or none of them):
 * every dispatch hop makes one.
 */
async function record(sql: Sql, run: RunToRetrieveFor, result: SearchResult, d: Decision): Promise<string> {
  const summary = {
    embeddingVersion: result.version,
    degraded: result.degraded,
    considered: d.candidates.length,
    injected: d.injected,
    contextBytes: d.bytes,
    latencyMs: result.latencyMs,
  };
  const message = `${d.injected.length} of ${d.candidates.length} lessons injected (${d.bytes} bytes)` +
    (result.version ? ` under ${result.version}` : '') + (result.degraded ? `; degraded: ${result.degraded}` : '');
  const [row] = await sql<{ won: boolean }[]>`
    with inserted as (
      insert into codex_kb.kb_retrievals (run_id, idea_id, task_id, stage, embedding_version, query, degraded, candidates, injected, context_bytes, context, latency_ms)
      values (${run.runId}, ${run.ideaId}, ${run.taskId}, ${run.stage}, ${result.version}, ${run.query}, ${result.degraded},
              ${sql.json(d.candidates as never)}, ${d.injected as string[]}::uuid[], ${d.bytes}, ${d.context}, ${result.latencyMs})
      on conflict (run_id) do nothing
      returning run_id, idea_id, task_id
    ), timeline as (
      insert into codex_kb.run_events (idea_id, run_id, task_id, event_type, actor, payload)
      select idea_id, run_id, task_id, 'kb.retrieval', 'facteur', ${sql.json({ ...summary, candidates: d.candidates } as never)} from inserted
    ), checked as (
      insert into codex_kb.policy_checks (check_key, idea_id, task_id, run_id, result, message, details)
      select 'kb.retrieval', idea_id, task_id, run_id, ${result.degraded ? 'warn' : 'info'}, ${message}, ${sql.json(summary as never)} from inserted
    )
    select exists (select 1 from inserted) as won`;
  if (row?.won) return d.context;
  // another instance decided first: its decision stands (read by a statement of its own,
  // whose snapshot includes the commit this one's insert waited for)
  const [winner] = await sql<{ context: string }[]>`select context from codex_kb.kb_retrievals where run_id = ${run.runId}`;
  return winner?.context ?? '';
}
