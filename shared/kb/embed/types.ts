// What the knowledge base needs of an embedding model: texts in, unit vectors out, under a
// named version. Every stored vector carries the version that made it, and a query is only
// ever compared with vectors of the same version (codex_kb.embedding_versions says which is
// active), so two models' spaces never mix.
export interface EmbeddingVersion {
  /** The version's name, as stored beside every vector it made (`local-hash-384-v1`). */
  readonly version: string;
  readonly provider: 'local' | 'openai';
  readonly model: string;
  readonly dimensions: number;
}

export interface Embedder extends EmbeddingVersion {
  /**
   * One vector per text, in order, each of `dimensions` numbers with unit L2 norm. Throws our
   * errors (shared/errors): RetryableError when asking again later may work (down, slow, 429),
   * anything else when it will not (a wrong dimension, a refused request).
   */
  embed(texts: readonly string[]): Promise<number[][]>;
}

/** The vector as pgvector's text form (`[0.1,0.2]`), for a `::vector` parameter. */
export function vectorLiteral(v: readonly number[]): string {
  return `[${v.map((x) => (Number.isFinite(x) ? Number(x.toFixed(7)) : 0)).join(',')}]`;
}
