// Embedding versions: which one is active, registering the configured one, and building a
// version's HNSW index (a partial expression index per version: shared/kb/search.ts says why).
//
// The first start registers the configured embedder's version and makes it active when no
// version is; later a different configured version is registered `building` and becomes
// active only through a re-embed and its promotion, never by a restart.
import type { Queryable, Sql } from '../db/index.js';
import type { EmbeddingVersion } from './embed/types.js';
import { hnswIndexName } from './search.js';

export interface ActiveVersion extends EmbeddingVersion {
  readonly state: string;
}

export async function activeVersion(sql: Queryable): Promise<ActiveVersion | undefined> {
  const [row] = await sql<ActiveVersion[]>`
    select version, provider, model, dimensions, state from codex_kb.embedding_versions where active`;
  return row;
}

/** Registers `v` (building); when no version is active yet, builds its index and activates it. */
export async function ensureVersion(sql: Sql, v: EmbeddingVersion): Promise<ActiveVersion> {
  await sql`
    insert into codex_kb.embedding_versions (version, provider, model, dimensions)
    values (${v.version}, ${v.provider}, ${v.model}, ${v.dimensions})
    on conflict (version) do nothing`;
  const [row] = await sql<{ provider: string; model: string; dimensions: number }[]>`
    select provider, model, dimensions from codex_kb.embedding_versions where version = ${v.version}`;
  if (row && (row.dimensions !== v.dimensions || row.model !== v.model || row.provider !== v.provider)) {
    throw new Error(`embedding version ${v.version} is registered as ${row.provider}/${row.model} with ${row.dimensions} dimensions; ` +
      `the configured embedder is ${v.provider}/${v.model} with ${v.dimensions}: give the new configuration a new version name`);
  }
  const active = await activeVersion(sql);
  if (active) return active;
  await buildIndex(sql, v);
  // two instances starting at once: the unique partial index lets one activation through
  await sql`
    update codex_kb.embedding_versions set state = 'ready', active = true, promoted_at = now()
     where version = ${v.version} and not exists (select 1 from codex_kb.embedding_versions where active)`.catch((err: { code?: string }) => {
    if (err.code !== '23505') throw err;
  });
  return (await activeVersion(sql))!;
}

/**
 * The graph's shape. pgvector's defaults (m 16, ef_construction 64) reached recall@5 0.84–0.86
 * against the exact answer at 100k local vectors (`npm run bench -- kb`, ef_search 40); a denser
 * graph reaches 0.93–0.96 at the same search width for three times the build (97 s against 35 s
 * at 100k on these machines, once per version) — the query, paid on every dispatch, matters more.
 */
export const HNSW_M = 24;
export const HNSW_EF_CONSTRUCTION = 100;

/**
 * The version's HNSW index, built without blocking writes (`concurrently`) on a real server.
 * PGlite (local mode) is one session and refuses `concurrently`; there the plain build is as
 * good, nothing else is waiting.
 */
export async function buildIndex(sql: Sql, v: Pick<EmbeddingVersion, 'version' | 'dimensions'>): Promise<void> {
  const name = hnswIndexName(v.version);
  if (!Number.isInteger(v.dimensions) || v.dimensions < 1 || v.dimensions > 4000) throw new Error(`not a dimension: ${v.dimensions}`);
  const body = `if not exists ${name} on codex_kb.reflection_embeddings using hnsw ((embedding::vector(${v.dimensions})) vector_cosine_ops) with (m = ${HNSW_M}, ef_construction = ${HNSW_EF_CONSTRUCTION}) where version = '${v.version}'`;
  const [row] = await sql<{ embedded: boolean }[]>`select version() like '%Emscripten%' as embedded`;
  const embedded = row?.embedded === true;
  await sql.unsafe(embedded ? `create index ${body}` : `create index concurrently ${body}`);
  // a concurrent build that failed halfway leaves an invalid index behind: rebuild it
  const [idx] = await sql<{ valid: boolean }[]>`
    select i.indisvalid as valid from pg_index i join pg_class c on c.oid = i.indexrelid
      join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'codex_kb' and c.relname = ${name}`;
  if (idx && !idx.valid) {
    await sql.unsafe(`drop index if exists codex_kb.${name}`);
    await sql.unsafe(`create index ${body}`);
  }
}
