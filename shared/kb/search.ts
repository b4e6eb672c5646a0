// Nearest reflections by cosine distance, through the active version's HNSW index.
//
// Each embedding version has its own partial expression index
// (`((embedding::vector(N)) vector_cosine_ops) where version = '<v>'`: versions.ts), so the
// query must say the same expression and the same predicate for the planner to use it: the
// version and its dimension go into the statement as literals (both validated: a version name
// is `[a-z0-9][a-z0-9._-]*`, the dimension an integer), the query vector as a parameter. The
// index's search width and pgvector 0.8's iterative scan (which keeps walking the graph when
// the repository filter drops candidates, instead of returning fewer than asked) are set per
// transaction with SET LOCAL — literals too: SET takes no parameters.
import type { Tx } from '../db/index.js';
import { vectorLiteral } from './embed/types.js';

export interface NearestQuery {
  readonly version: string;
  readonly dimensions: number;
  readonly vector: readonly number[];
  /** Only reflections of this repository (the filter comes first: lessons are per repository). */
  readonly repository?: string;
  /** Superseded lessons are left out unless asked for (the anomaly checks look at them). */
  readonly includeSuperseded?: boolean;
  readonly k: number;
  /** hnsw.ef_search: candidates kept while walking the graph (recall against latency). */
  readonly efSearch?: number;
}

export interface Neighbour {
  readonly id: string;
  /** Cosine distance, 0 (same direction) to 2 (opposite). */
  readonly distance: number;
}

const VERSION = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The index a version's vectors are searched by (one per version; the name is derived). */
export function hnswIndexName(version: string): string {
  if (!VERSION.test(version)) throw new Error(`not an embedding version name: ${JSON.stringify(version)}`);
  return `reflection_embeddings_hnsw_${version.replace(/[^a-z0-9]/g, '_')}`;
}

/**
 * The search width when the caller names none: 64 for the usual top 5 (recall@5 0.94–0.96
 * against the exact answer at 100k vectors, p50 about 7 ms: `npm run bench -- kb`), four per
 * neighbour asked for beyond that (retrieval's 20 candidates walk 80).
 */
export const defaultEfSearch = (k: number): number => Math.max(64, 4 * k);

/** The `k` nearest reflections; must run in a transaction (the SET LOCALs end with it). */
export async function nearest(tx: Tx, q: NearestQuery, opts: { iterativeScan?: boolean } = {}): Promise<Neighbour[]> {
  if (!VERSION.test(q.version)) throw new Error(`not an embedding version name: ${JSON.stringify(q.version)}`);
  if (!Number.isInteger(q.dimensions) || q.dimensions < 1 || q.dimensions > 4000) throw new Error(`not a dimension: ${q.dimensions}`);
  if (q.vector.length !== q.dimensions) throw new Error(`query vector has ${q.vector.length} dimensions, version ${q.version} has ${q.dimensions}`);
  const k = Math.max(1, Math.min(1000, Math.floor(q.k)));
  const ef = Math.max(k, Math.min(1000, Math.floor(q.efSearch ?? defaultEfSearch(k))));
  // the settings are sent with the search, ahead of it on the one connection (one round trip;
  // postgres.js sends a query when it is first executed)
  const settings = [tx.unsafe(`set local hnsw.ef_search = ${ef}`).execute(), ...(opts.iterativeScan !== false ? [tx.unsafe('set local hnsw.iterative_scan = relaxed_order').execute()] : [])];
  const n = q.dimensions;
  const filters = [`e.version = '${q.version}'`];
  const params: unknown[] = [vectorLiteral(q.vector)];
  if (q.repository !== undefined) {
    params.push(q.repository);
    filters.push(`r.repository = $${params.length}`);
  }
  if (!q.includeSuperseded) filters.push('r.superseded_by is null');
  const search = tx.unsafe<{ id: string; distance: number }[]>(
    `select e.reflection_id::text as id, (e.embedding::vector(${n}) <=> $1::vector(${n}))::float8 as distance
       from codex_kb.reflection_embeddings e join codex_kb.reflections r on r.id = e.reflection_id
      where ${filters.join(' and ')}
      order by e.embedding::vector(${n}) <=> $1::vector(${n})
      limit ${k}`,
    params as never[],
  ).execute();
  const [rows] = await Promise.all([search, ...settings]);
  return rows.map((r) => ({ id: r.id, distance: Number(r.distance) }));
}
