// Promotion gates (issue 10, item 9; seed 000 step 11): a new embedding version, prompt
// version or model becomes the active one only when its evaluation shows delta >= 0 against
// the active one.
//
//   embedding: recall@k on the labeled set (./labeled.ts), measured here for the candidate
//              and the active version, each through its own vectors and index (./evaluate.ts);
//   prompt, model: the faithfulness score supplied with the request (an offline evaluation
//              Facteur does not run itself), and recall where the request gives it; the
//              baseline's are the request's, else those recorded when it was promoted.
//
// The decision and its evidence are written in one transaction: kb_promotions, a
// `kb.promotion` policy check, the audit log, and — only when promoted — the switch itself
// (for embeddings, the active flag moves from one version to the other in that same commit:
// readers see the old version or the new one, never none or both). A refused promotion
// writes its record and changes nothing else.
import { appendAudit } from '../audit/index.js';
import { transaction, type Sql, type Tx } from '../db/index.js';
import { ConflictError, ValidationError } from '../errors/index.js';
import type { Embedder } from './embed/types.js';
import { evaluateRecall } from './evaluate.js';
import { activeVersion } from './versions.js';

export type PromotionKind = 'embedding' | 'prompt' | 'model';

export interface PromotionRequest {
  readonly kind: PromotionKind;
  readonly candidate: string;
  readonly requestedBy: string;
  /** prompt/model: the candidate's faithfulness (0..1), and optionally the baseline's. */
  readonly faithfulness?: number;
  readonly baselineFaithfulness?: number;
  /** prompt/model: recall where it applies (0..1), and optionally the baseline's. */
  readonly recall?: number;
  readonly baselineRecall?: number;
}

export interface PromotionDecision {
  readonly id: string;
  readonly kind: PromotionKind;
  readonly candidate: string;
  readonly baseline: string | null;
  readonly decision: 'promoted' | 'refused';
  readonly delta: number;
  readonly metrics: Record<string, unknown>;
}

export interface PromoteDeps {
  readonly sql: Sql;
  /** recall@k's k (FACTEUR_KB_PROMOTION_K). */
  readonly k: number;
  /** The embedder that makes a version's vectors, when this process has it. */
  readonly embedderFor: (version: string) => Embedder | undefined;
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

/** What the baseline scored when it was itself promoted (the last promoted record of it). */
async function recorded(sql: Sql, kind: PromotionKind, name: string): Promise<Record<string, unknown> | undefined> {
  const [row] = await sql<{ metrics: Record<string, unknown> }[]>`
    select metrics from codex_kb.kb_promotions where kind = ${kind} and candidate = ${name} and decision = 'promoted'
     order by created_at desc limit 1`;
  return row?.metrics;
}

async function evaluateEmbedding(deps: PromoteDeps, candidate: string): Promise<{ baseline: string | null; delta: number; metrics: Record<string, unknown> }> {
  const [row] = await deps.sql<{ state: string; active: boolean }[]>`select state, active from codex_kb.embedding_versions where version = ${candidate}`;
  if (!row) throw new ValidationError(`no embedding version ${candidate}`, [{ path: 'candidate', message: 'is not a registered embedding version (re-embed into it first)' }]);
  if (row.active) throw new ConflictError('already_active', `embedding version ${candidate} is already the active one`);
  if (row.state !== 'ready') throw new ConflictError('not_ready', `embedding version ${candidate} is ${row.state}: its re-embed must finish before it can be promoted`);
  const embedder = deps.embedderFor(candidate);
  if (!embedder) throw new ValidationError(`no embedder for ${candidate} in this process`, [{ path: 'candidate', message: 'configure the embedder that makes this version (FACTEUR_EMBEDDINGS_*) to evaluate it' }]);
  const cand = await evaluateRecall(deps.sql, embedder, candidate, deps.k);
  const active = await activeVersion(deps.sql);
  let baselineRecall = 0;
  let baselineSource = 'none';
  if (active) {
    const base = deps.embedderFor(active.version);
    if (base) {
      baselineRecall = (await evaluateRecall(deps.sql, base, active.version, deps.k)).recall;
      baselineSource = 'measured';
    } else {
      const before = await recorded(deps.sql, 'embedding', active.version);
      if (typeof before?.recall !== 'number') {
        throw new ConflictError('baseline_unmeasurable', `the active version ${active.version} cannot be evaluated here (no embedder for it, no recorded recall): configure its embedder`);
      }
      baselineRecall = before.recall;
      baselineSource = 'recorded';
    }
  }
  const delta = round(cand.recall - baselineRecall);
  return {
    baseline: active?.version ?? null,
    delta,
    metrics: { metric: `recall@${deps.k}`, k: deps.k, recall: cand.recall, baselineRecall, baselineSource, queries: cand.queries, lessons: cand.lessons, misses: cand.misses },
  };
}

async function evaluateScored(sql: Sql, req: PromotionRequest): Promise<{ baseline: string | null; delta: number; metrics: Record<string, unknown> }> {
  if (req.faithfulness === undefined) throw new ValidationError('a faithfulness score is required', [{ path: 'faithfulness', message: `a ${req.kind} is promoted on its faithfulness score: give it (0..1)` }]);
  const [active] = await sql<{ name: string }[]>`select name from codex_kb.kb_active where kind = ${req.kind}`;
  if (active?.name === req.candidate) throw new ConflictError('already_active', `${req.kind} ${req.candidate} is already the active one`);
  const before = active ? await recorded(sql, req.kind, active.name) : undefined;
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const baseFaith = req.baselineFaithfulness ?? num(before?.faithfulness) ?? 0;
  const deltas = [req.faithfulness - baseFaith];
  const metrics: Record<string, unknown> = { faithfulness: req.faithfulness, baselineFaithfulness: baseFaith };
  if (req.recall !== undefined) {
    const baseRecall = req.baselineRecall ?? num(before?.recall) ?? 0;
    deltas.push(req.recall - baseRecall);
    Object.assign(metrics, { recall: req.recall, baselineRecall: baseRecall });
  }
  // every metric must hold: the smallest delta decides
  return { baseline: active?.name ?? null, delta: round(Math.min(...deltas)), metrics };
}

async function switchTo(tx: Tx, kind: PromotionKind, candidate: string, baseline: string | null): Promise<void> {
  if (kind === 'embedding') {
    // the baseline must still be the active one: a promotion decided meanwhile wins
    const [still] = await tx<{ version: string | null }[]>`select (select version from codex_kb.embedding_versions where active) as version`;
    if ((still?.version ?? null) !== baseline) throw new ConflictError('baseline_changed', 'the active embedding version changed during the evaluation; ask again');
    await tx`update codex_kb.embedding_versions set active = false where active`;
    await tx`update codex_kb.embedding_versions set active = true, state = 'ready', promoted_at = now() where version = ${candidate}`;
    return;
  }
  await tx`
    insert into codex_kb.kb_active (kind, name) values (${kind}, ${candidate})
    on conflict (kind) do update set name = excluded.name, promoted_at = now()`;
}

export async function promote(deps: PromoteDeps, req: PromotionRequest): Promise<PromotionDecision> {
  const evaluation = req.kind === 'embedding' ? await evaluateEmbedding(deps, req.candidate) : await evaluateScored(deps.sql, req);
  const decision = evaluation.delta >= 0 ? 'promoted' : 'refused';
  return transaction(deps.sql, ['kb:promotion'], async (tx) => {
    if (decision === 'promoted') await switchTo(tx, req.kind, req.candidate, evaluation.baseline);
    const [row] = await tx<{ id: string }[]>`
      insert into codex_kb.kb_promotions (kind, candidate, baseline, metrics, delta, decision, requested_by)
      values (${req.kind}, ${req.candidate}, ${evaluation.baseline}, ${tx.json(evaluation.metrics as never)}, ${evaluation.delta}, ${decision}, ${req.requestedBy})
      returning id`;
    const message = `${req.kind} ${req.candidate} ${decision} against ${evaluation.baseline ?? 'no active one'}: delta ${evaluation.delta} (promoted only at delta >= 0)`;
    const details = { promotionId: row!.id, kind: req.kind, candidate: req.candidate, baseline: evaluation.baseline, delta: evaluation.delta, metrics: evaluation.metrics };
    await tx`
      insert into codex_kb.policy_checks (check_key, result, message, details)
      values ('kb.promotion', ${decision === 'promoted' ? 'pass' : 'fail'}, ${message}, ${tx.json(details as never)})`;
    await appendAudit(tx, { actor: req.requestedBy, action: `kb.promotion.${decision}`, subjectType: `kb_${req.kind}`, subjectId: req.candidate, details });
    return { id: row!.id, kind: req.kind, candidate: req.candidate, baseline: evaluation.baseline, decision, delta: evaluation.delta, metrics: evaluation.metrics };
  });
}
