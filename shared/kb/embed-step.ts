// The pass's second step: vectors, under the active version, for the reflections that have
// none yet. It runs in the background pass only (never on a callback's path), in batches,
// and holds no transaction while the embedder works, so a slow provider delays nothing but
// itself. An embedder that is down, slow, rate-limited or answering the wrong dimension
// loses nothing: the reflections simply stay without a vector (the query below finds them
// again), the failure is logged as degraded, and the step rests for a backoff — in this
// process only, which is all it guards (the next pass's time, not correctness) — before it
// asks again. Two instances may embed the same reflection at once; the primary key keeps one
// vector, the other is dropped (`on conflict do nothing`).
import { messageOf, NonRetriableError, RetryableError } from '../errors/index.js';
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
  /** Something may wait for a vector: this process reflected, or the last look did not see the end of them (cleared only by a look that did). */
  pending: boolean;
  /** Epoch ms of the last look for reflections without a vector. */
  lookedAt: number;
}

/**
 * How often the step looks for reflections without a vector when this process wrote none
 * (another instance's, or ones it could not embed): the look is an anti-join over every
 * reflection — 185 ms at 100k reflections, measured on the test server — too much for every
 * pass when passes follow every dispatch event, and this backstop is enough for the rest.
 */
export const LOOK_EVERY_MS = 60_000;

export interface EmbedStep {
  readonly run: KbStep;
  /** Says reflections were just written: the next pass looks for them at once. */
  markPending(): void;
}

/** Reflections still without a vector of `version`. */
export async function unembeddedCount(deps: Pick<KbDeps, 'sql'>, version: string): Promise<number> {
  const [row] = await deps.sql<{ n: number }[]>`
    select count(*)::int as n from codex_kb.reflections r
     where not exists (select 1 from codex_kb.reflection_embeddings e where e.reflection_id = r.id and e.version = ${version})`;
  return row?.n ?? 0;
}

/** A step with its own backoff state (one per knowledge base instance). */
export function createEmbedStep(): EmbedStep {
  const state: EmbedStepState = { failures: 0, restUntil: 0, mismatchLogged: false, pending: true, lookedAt: 0 };
  const run: KbStep = async (deps) => {
    const now = (deps.now ?? (() => new Date()))().getTime();
    if (now < state.restUntil) return 0;
    if (!state.pending && now - state.lookedAt < LOOK_EVERY_MS) return 0;
    state.lookedAt = now;
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
    // reflections the provider refused one by one in this pass: left for the next, not asked again now
    const skipped: string[] = [];
    while (Date.now() < until) {
      const rows = await deps.sql<{ id: string; content: string }[]>`
        select r.id, r.content from codex_kb.reflections r
         where not exists (select 1 from codex_kb.reflection_embeddings e where e.reflection_id = r.id and e.version = ${active.version})
           and r.id <> all(${skipped}::uuid[])
         order by r.created_at, r.id
         limit ${deps.config.kbStore.batch}`;
      if (rows.length === 0) {
        state.pending = false;
        break;
      }
      let vectors: (number[] | undefined)[];
      try {
        vectors = await embedRows(deps, rows, active.dimensions, skipped);
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
      const items = rows.flatMap((r, i) => (vectors[i] ? [{ id: r.id, e: vectorLiteral(vectors[i]!) }] : []));
      const inserted = await deps.sql`
        insert into codex_kb.reflection_embeddings (reflection_id, version, embedding)
        select x.id::uuid, ${active.version}, x.e::vector
          from jsonb_to_recordset(${deps.sql.json(items)}::jsonb) as x(id text, e text)
          join codex_kb.reflections r on r.id = x.id::uuid
        on conflict (reflection_id, version) do nothing
        returning reflection_id`;
      embedded += inserted.length;
      // a short batch was the last: nothing waits but what the provider refused
      if (rows.length < deps.config.kbStore.batch) {
        state.pending = skipped.length > 0;
        break;
      }
    }
    return embedded;
  };
  return { run, markPending: () => (state.pending = true) } as EmbedStep;
}

/**
 * The batch's vectors. A request the provider refuses outright (a 4xx: one text it will not
 * take, say) is asked again text by text, so one such text never holds back the others: the
 * ones it refuses alone get no vector (undefined) and are skipped for the rest of the pass.
 */
async function embedRows(deps: KbDeps, rows: readonly { id: string; content: string }[], dimensions: number, skipped: string[]): Promise<(number[] | undefined)[]> {
  const check = (vs: number[][], n: number) => {
    if (vs.length !== n || vs.some((v) => v.length !== dimensions)) {
      throw new NonRetriableError('embedder_bad_answer', `the embedder returned ${vs.length} vectors for ${n} texts, or vectors not of ${dimensions} dimensions`);
    }
    return vs;
  };
  const refused = (err: unknown) => err instanceof NonRetriableError && err.code === 'embedder_refused';
  if (rows.length > 1) {
    try {
      return check(await deps.embedder.embed(rows.map((r) => r.content)), rows.length);
    } catch (err) {
      if (!refused(err)) throw err;
    }
  }
  const out: (number[] | undefined)[] = [];
  for (const r of rows) {
    try {
      out.push(check(await deps.embedder.embed([r.content]), 1)[0]);
    } catch (err) {
      if (!refused(err)) throw err;
      deps.log.warn('kb: the embedder refused a reflection; it is asked again at a later pass', { reflectionId: r.id, error: messageOf(err) });
      skipped.push(r.id);
      out.push(undefined);
    }
  }
  return out;
}

function rest(deps: KbDeps, state: EmbedStepState, now: number, err: unknown): void {
  const cfg = deps.config.kbStore;
  const backoff = Math.min(cfg.retryMaxMs, cfg.retryBaseMs * 2 ** Math.min(state.failures, 30));
  const asked = err instanceof RetryableError && err.retryAfterMs !== undefined ? Math.min(err.retryAfterMs, cfg.retryMaxMs) : 0;
  state.failures++;
  state.restUntil = now + Math.max(backoff, asked);
}
