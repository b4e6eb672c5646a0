// The candidates of a retrieval: reflections of the repository (superseded ones out), found
// by the query's embedding through the active version's HNSW index (shared/kb/search.ts) and
// by Postgres full text, plus the latest ones touching the task's paths; ranked by fusion.ts.
// Shared by a run's retrieval (retrieve.ts) and GET /v1/kb/search, so the API shows the
// ranking runs get.
//
// The query's text is only ever a parameter: full text goes through websearch_to_tsquery of
// the query's words joined by `or` (a lesson sharing some words with the task is a candidate;
// `and` would demand every word), so SQL or `{{` in it is just more words.
import type { Config } from '../config/index.js';
import type { Sql, Tx } from '../db/index.js';
import { messageOf } from '../errors/index.js';
import type { Embedder } from './embed/types.js';
import { rank, type Candidate, type Scored } from './fusion.js';
import { nearest } from './search.js';
import { activeVersion, type ActiveVersion } from './versions.js';

export interface SearchInput {
  readonly query: string;
  /** Only this repository's lessons (runs always give one; the search API may not). */
  readonly repository?: string;
  /** The task's paths: lessons touching them come first. */
  readonly paths?: readonly string[];
  /** The active embedding version when the caller read it already (null: none is active). */
  readonly activeVersion?: ActiveVersion | null;
}

export interface SearchDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'kbRetrieve'>;
  readonly embedder?: Embedder;
}

export interface SearchResult {
  /** Every candidate, in the order fusion.ts gives (duplicates marked). */
  readonly candidates: readonly Scored[];
  /** The version whose vectors were searched; null when the search was full-text only. */
  readonly version: string | null;
  /** Why the vector ranking was left out (no active version, the embedder failed or was slow). */
  readonly degraded: string | null;
  readonly latencyMs: number;
}

/** The query's words as an `or` of websearch terms (`or` itself, websearch's operator, left out). */
export function fullTextQuery(text: string): string {
  const words = new Set<string>();
  for (const m of text.slice(0, 20_000).toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    const w = m[0];
    if (w.length >= 2 && w.length <= 40 && w !== 'or') words.add(w);
    if (words.size >= 48) break;
  }
  return [...words].join(' or ');
}

type Embedded = { vector: number[]; version: string; dimensions: number } | { degraded: string };

/** The query's vector under the active version, or why there is none — within `timeoutMs`. */
async function embedQuery(deps: SearchDeps, text: string, known?: ActiveVersion | null): Promise<Embedded> {
  const active = known === undefined ? await activeVersion(deps.sql) : known;
  if (!active) return { degraded: 'no_active_version' };
  const embedder = deps.embedder;
  if (!embedder) return { degraded: 'no_embedder' };
  // a vector of another model's space would answer nonsense: full text until a re-embed
  if (embedder.version !== active.version || embedder.dimensions !== active.dimensions) return { degraded: `embedder_version_mismatch: ${embedder.version} is configured, ${active.version} is active` };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Embedded>((resolve) => {
    timer = setTimeout(() => resolve({ degraded: `embedder_timeout: no answer within ${deps.config.kbRetrieve.embedTimeoutMs} ms` }), deps.config.kbRetrieve.embedTimeoutMs);
  });
  const answer = embedder.embed([text.slice(0, 20_000)]).then(
    ([v]): Embedded => (v && v.length === active.dimensions ? { vector: v, version: active.version, dimensions: active.dimensions } : { degraded: 'embedder_error: wrong dimension' }),
    (err: unknown): Embedded => ({ degraded: `embedder_error: ${messageOf(err).slice(0, 200)}` }),
  );
  try {
    return await Promise.race([answer, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Row {
  id: string;
  content: string;
  content_digest: string | null;
  stage: string | null;
  outcome: string | null;
  paths: string[];
  usefulness: number;
  overlap: boolean;
}

/** The lessons' fields, and whether each touches the task's paths (either is a prefix of the other). */
async function details(tx: Tx, ids: readonly string[], paths: readonly string[], repository: string | undefined): Promise<Row[]> {
  if (ids.length === 0) return [];
  // 8 KB of a lesson is plenty to format and compare: a 5 MB one is not loaded whole
  return tx<Row[]>`
    select r.id::text as id, left(r.content, 8192) as content, r.content_digest, r.stage, r.outcome, r.paths, r.usefulness::float8 as usefulness,
           exists (select 1 from unnest(r.paths) p, unnest(${paths as string[]}::text[]) t where starts_with(p, t) or starts_with(t, p)) as overlap
      from codex_kb.reflections r
     where r.id = any(${ids as string[]}::uuid[]) and r.superseded_by is null
       and (${repository ?? null}::text is null or r.repository = ${repository ?? null})`;
}

async function textRanking(tx: Tx, query: string, repository: string | undefined, k: number): Promise<{ id: string; score: number }[]> {
  const terms = fullTextQuery(query);
  if (!terms) return [];
  return tx<{ id: string; score: number }[]>`
    select r.id::text as id, ts_rank_cd(r.search, q)::float8 as score
      from codex_kb.reflections r, websearch_to_tsquery('english', ${terms}) q
     where r.search @@ q and r.superseded_by is null
       and (${repository ?? null}::text is null or r.repository = ${repository ?? null})
     order by score desc, r.id
     limit ${k}`.execute();
}

async function pathRanking(tx: Tx, paths: readonly string[], repository: string | undefined, k: number): Promise<string[]> {
  if (paths.length === 0) return [];
  const rows = await tx<{ id: string }[]>`
    select r.id::text as id from codex_kb.reflections r
     where r.superseded_by is null and (${repository ?? null}::text is null or r.repository = ${repository ?? null})
       and exists (select 1 from unnest(r.paths) p, unnest(${paths as string[]}::text[]) t where starts_with(p, t) or starts_with(t, p))
     order by r.created_at desc, r.id
     limit ${k}`.execute();
  return rows.map((r) => r.id);
}

/** The ranked candidates for `input`: vector (when an embedding came in time) fused with full text. */
export async function searchLessons(deps: SearchDeps, input: SearchInput): Promise<SearchResult> {
  const started = performance.now();
  const { candidates: k, queryTimeoutMs } = deps.config.kbRetrieve;
  const paths = (input.paths ?? []).filter((p) => typeof p === 'string' && p.length > 0).slice(0, 100);
  const embedded = await embedQuery(deps, input.query, input.activeVersion);
  const candidates = await deps.sql.begin(async (tx) => {
    // Sent together on the transaction's one connection (one write, one round trip), in the
    // order they are executed here (postgres.js sends a query when it is first executed or
    // awaited): the timeout first, so it bounds every search after it. An integer from the
    // config: SET takes no parameters.
    const timeout = tx.unsafe(`set local statement_timeout = ${Math.floor(queryTimeoutMs)}`).execute();
    const [, byVector, byText, byPath] = await Promise.all([
      timeout,
      'vector' in embedded
        ? nearest(tx, { version: embedded.version, dimensions: embedded.dimensions, vector: embedded.vector, ...(input.repository !== undefined ? { repository: input.repository } : {}), k })
        : [],
      textRanking(tx, input.query, input.repository, k),
      pathRanking(tx, paths, input.repository, k),
    ]);
    const ids = [...new Set([...byVector.map((n) => n.id), ...byText.map((t) => t.id), ...byPath])];
    const rows = await details(tx, ids, paths, input.repository);
    const vectorAt = new Map(byVector.map((n, i) => [n.id, { rank: i + 1, distance: n.distance }]));
    const textAt = new Map(byText.map((t, i) => [t.id, { rank: i + 1, score: t.score }]));
    return rows.map((r): Candidate => ({
      id: r.id,
      content: r.content,
      contentDigest: r.content_digest,
      stage: r.stage,
      outcome: r.outcome,
      paths: r.paths,
      usefulness: Number(r.usefulness),
      vectorRank: vectorAt.get(r.id)?.rank ?? null,
      vectorDistance: vectorAt.get(r.id)?.distance ?? null,
      textRank: textAt.get(r.id)?.rank ?? null,
      textScore: textAt.get(r.id)?.score ?? null,
      pathOverlap: r.overlap,
    }));
  });
  return {
    candidates: rank(candidates),
    version: 'vector' in embedded ? embedded.version : null,
    degraded: 'degraded' in embedded ? embedded.degraded : null,
    latencyMs: Math.round((performance.now() - started) * 100) / 100,
  };
}
