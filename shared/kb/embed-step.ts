// The pass's second step: vectors, under the active version, for the reflections that have
// none yet. It runs in the background pass only (never on a callback's path), in batches,
// and holds no transaction while the embedder works, so a slow provider delays nothing but
// itself. An embedder that is down, slow, rate-limited or answering the wrong dimension
// loses nothing: the reflections simply stay without a vector (the query below finds them
// again), the failure is logged as degraded, and the step rests for a backoff — in this
// process only, which is all it guards (the next pass's time, not correctness) — before it
// asks again. Two instances may embed the same reflection at once; the primary key keeps one
// vector, the other is dropped (`on conflict do nothing`).
import { messageOf, RetryableError } from '../errors/index.js';
import type { KbDeps, KbStep } from './deps.js';
import { vectorLiteral } from './embed/types.js';
import { STEP_BUDGET_MS } from './reflect.js';
import { activeVersion } from './versions.js';

export interface EmbedStepState {
  /** Consecutive failed batches (the backoff's exponent). */
  failures: number;
  /** Epoch ms before which the step does not ask the embedder again. */
  restUntil: number;
  /** The version mismatch is logged once, not every pass. */
  mismatchLogged: boolean;
}

/** Reflections still without a vector of `version`. */
export async function unembeddedCount(deps: Pick<KbDeps, 'sql'>, version: string): Promise<number> {
  const [row] = await deps.sql<{ n: number }[]>`
    select count(*)::int as n from codex_kb.reflections r
     where not exists (select 1 from codex_kb.reflection_embeddings e where e.reflection_id = r.id and e.version = ${version})`;
  return row?.n ?? 0;
}

/** A step with its own backoff state (one per knowledge base instance). */
export function createEmbedStep(): KbStep {
  const state: EmbedStepState = { failures: 0, restUntil: 0, mismatchLogged: false };
  return async function embed(deps) {
    const now = (deps.now ?? (() => new Date()))().getTime();
    if (now < state.restUntil) return 0;
    const active = await activeVersion(deps.sql);
    if (!active) return 0;
    if (active.version !== deps.embedder.version || active.dimensions !== deps.embedder.dimensions) {
      // a new configuration's version is filled by a re-embed, then promoted: not here
      if (!state.mismatchLogged) {
        deps.log.warn('kb: the configured embedder is not the active version; new reflections get no vector until it is promoted', { active: active.version, configured: deps.embedder.version });
        state.mismatchLogged = true;
      }
      return 0;
    }
    state.mismatchLogged = false;
    const until = Date.now() + STEP_BUDGET_MS;
    let embedded = 0;
    while (Date.now() < until) {
      const rows = await deps.sql<{ id: string; content: string }[]>`
        select r.id, r.content from codex_kb.reflections r
         where not exists (select 1 from codex_kb.reflection_embeddings e where e.reflection_id = r.id and e.version = ${active.version})
         order by r.created_at, r.id
         limit ${deps.config.kbStore.batch}`;
      if (rows.length === 0) break;
      let vectors: number[][];
      try {
        vectors = await deps.embedder.embed(rows.map((r) => r.content));
        if (vectors.length !== rows.length || vectors.some((v) => v.length !== active.dimensions)) {
          throw new Error(`the embedder returned ${vectors.length} vectors for ${rows.length} texts, or vectors not of ${active.dimensions} dimensions`);
        }
      } catch (err) {
        rest(deps, state, now, err);
        deps.log.warn('kb: embedder degraded; reflections wait for a vector and are embedded by a later pass', {
          version: active.version,
          error: messageOf(err),
          code: (err as { code?: unknown }).code,
          retryable: err instanceof RetryableError,
          waiting: await unembeddedCount(deps, active.version).catch(() => undefined),
          restMs: state.restUntil - now,
        });
        return embedded;
      }
      state.failures = 0;
      const items = rows.map((r, i) => ({ id: r.id, e: vectorLiteral(vectors[i]!) }));
      const inserted = await deps.sql`
        insert into codex_kb.reflection_embeddings (reflection_id, version, embedding)
        select x.id::uuid, ${active.version}, x.e::vector
          from jsonb_to_recordset(${deps.sql.json(items)}::jsonb) as x(id text, e text)
          join codex_kb.reflections r on r.id = x.id::uuid
        on conflict (reflection_id, version) do nothing
        returning reflection_id`;
      embedded += inserted.length;
    }
    return embedded;
  };
}

function rest(deps: KbDeps, state: EmbedStepState, now: number, err: unknown): void {
  const cfg = deps.config.kbStore;
  const backoff = Math.min(cfg.retryMaxMs, cfg.retryBaseMs * 2 ** Math.min(state.failures, 30));
  const asked = err instanceof RetryableError && err.retryAfterMs !== undefined ? Math.min(err.retryAfterMs, cfg.retryMaxMs) : 0;
  state.failures++;
  state.restUntil = now + Math.max(backoff, asked);
}
