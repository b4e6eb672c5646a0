// Retrieval recall@k of an embedding version on the labeled set (./labeled.ts), measured the
// way production retrieves: the lessons are stored as reflections with their vectors of the
// version, and every query goes through `nearest` (the version's HNSW index, the repository
// filter first).
//
// The scratch scope is a transaction that is rolled back: the lessons exist only for the
// evaluation's own queries (MVCC hides them from everyone else, retrieval of real runs never
// sees them) and nothing is left behind, whether the evaluation ends or fails. Their
// repositories are namespaced (`labeled:<name>`) all the same, so even a reader inside the
// transaction cannot mistake them for a real repository's lessons.
import type { Sql } from '../db/index.js';
import type { Embedder } from './embed/types.js';
import { vectorLiteral } from './embed/types.js';
import { labeledSet, type LabeledSet } from './labeled.js';
import { nearest } from './search.js';

export interface RecallResult {
  readonly version: string;
  readonly k: number;
  /** Mean over queries of |relevant ∩ top-k| / |relevant|. */
  readonly recall: number;
  readonly queries: number;
  readonly lessons: number;
  /** Queries that found none of their relevant lessons in the top k. */
  readonly misses: number;
}

export const LABELED_PREFIX = 'labeled:';
const EMBED_BATCH = 64;

class Rollback extends Error {
  constructor(readonly result: RecallResult) {
    super('evaluation scope rolled back');
  }
}

async function embedAll(embedder: Embedder, texts: readonly string[]): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < texts.length; i += EMBED_BATCH) out.push(...(await embedder.embed(texts.slice(i, i + EMBED_BATCH))));
  return out;
}

/**
 * recall@k of `version` (made by `embedder`: the version must be registered) on the labeled
 * set; embeds every lesson and query, so it costs what a few hundred reflections cost.
 */
export async function evaluateRecall(sql: Sql, embedder: Embedder, version: string, k: number, set: LabeledSet = labeledSet()): Promise<RecallResult> {
  if (embedder.version !== version) throw new Error(`the embedder makes ${embedder.version}, not ${version}`);
  const lessonVectors = await embedAll(embedder, set.lessons.map((l) => l.content));
  const queryVectors = await embedAll(embedder, set.queries.map((q) => q.text));
  try {
    await sql.begin(async (tx) => {
      const ids = await tx<{ id: string; key: string }[]>`
        insert into codex_kb.reflections (reflection_type, content, repository, paths, source, metadata)
        select 'lesson', l.content, ${LABELED_PREFIX} || l.repository, array(select jsonb_array_elements_text(l.paths)), 'synthetic',
               jsonb_build_object('labeledKey', l.key)
          from jsonb_to_recordset(${tx.json(set.lessons as never)}) as l(key text, repository text, paths jsonb, content text)
        returning id, metadata->>'labeledKey' as key`;
      const idOf = new Map(ids.map((r) => [r.key, r.id]));
      const keyOf = new Map(ids.map((r) => [r.id, r.key]));
      const rows = set.lessons.map((l, i) => ({ id: idOf.get(l.key)!, v: vectorLiteral(lessonVectors[i]!) }));
      await tx`
        insert into codex_kb.reflection_embeddings (reflection_id, version, embedding)
        select r.id, ${version}, r.v::vector from jsonb_to_recordset(${tx.json(rows as never)}) as r(id uuid, v text)`;
      let total = 0;
      let misses = 0;
      for (const [i, q] of set.queries.entries()) {
        const found = await nearest(tx, { version, dimensions: embedder.dimensions, vector: queryVectors[i]!, repository: LABELED_PREFIX + q.repository, k });
        const keys = new Set(found.map((n) => keyOf.get(n.id)));
        const hits = q.relevant.filter((r) => keys.has(r)).length;
        total += hits / q.relevant.length;
        if (hits === 0) misses++;
      }
      const recall = set.queries.length ? total / set.queries.length : 0;
      throw new Rollback({ version, k, recall: Math.round(recall * 10_000) / 10_000, queries: set.queries.length, lessons: set.lessons.length, misses });
    });
  } catch (err) {
    if (err instanceof Rollback) return err.result;
    throw err;
  }
  throw new Error('unreachable: the evaluation always rolls back');
}
