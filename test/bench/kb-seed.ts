// Seeding and measuring for `npm run bench -- kb` and its small test (test/kb-learn/
// retrieval-recall.test.ts): N reflections over 20 repositories, embedded with the embedded
// default embedder and loaded with COPY; then queries through `nearest` (the version's HNSW
// index) timed, and compared with the exact answer of the same query with index scans off.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Sql } from '../../shared/db/index.js';
import { createLocalEmbedder } from '../../shared/kb/embed/local.js';
import { vectorLiteral } from '../../shared/kb/embed/types.js';
import { nearest, type Neighbour } from '../../shared/kb/search.js';
import { buildIndex } from '../../shared/kb/versions.js';

export const REPOSITORIES = 20;
const embedder = createLocalEmbedder();

/** A deterministic PRNG (mulberry32), so every run seeds the same data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ren', 'sto', 'vu', 'tra', 'pel', 'dis', 'no', 'qua', 'zet', 'bri', 'cho', 'fen', 'gul', 'hax', 'jor'];
function vocabulary(rand: () => number, n: number): string[] {
  const words = new Set<string>();
  while (words.size < n) words.add(Array.from({ length: 2 + Math.floor(rand() * 2) }, () => SYLLABLES[Math.floor(rand() * SYLLABLES.length)]).join(''));
  return [...words];
}

export interface KbCorpus {
  readonly texts: string[];
  readonly repos: string[];
  readonly queries: { text: string; repository: string }[];
}

/**
 * Lessons the way a KB holds them: clustered. A topic (N/20 of them) is 14 words from a
 * 3000-word vocabulary; each lesson restates its topic with a third of the words changed, in
 * its topic's repository; a query is a topic restated again (a similar past task), so its
 * nearest lessons are its topic's. (Uniformly random texts, `BENCH_KB_UNIFORM=1`, have no
 * near neighbours at all — every distance ties — and measure the index's tie-breaking, not
 * its recall.)
 */
export function corpus(n: number, queries: number, repositories = REPOSITORIES): KbCorpus {
  const rand = prng(0xbe9c4);
  const vocab = vocabulary(rand, 3000);
  const word = () => vocab[Math.floor(rand() * vocab.length)]!;
  const uniform = process.env.BENCH_KB_UNIFORM === '1';
  const topicCount = Math.max(1, Math.floor(n / 20));
  const topics = Array.from({ length: topicCount }, () => Array.from({ length: 14 }, word));
  const restate = (words: readonly string[], change: number) => words.map((w) => (rand() < change ? word() : w));
  const texts: string[] = [];
  const repos: string[] = [];
  for (let i = 0; i < n; i++) {
    const topic = i % topicCount;
    texts.push(uniform ? Array.from({ length: 14 }, word).join(' ') : restate(topics[topic]!, 1 / 3).join(' '));
    repos.push(`bench/repo-${topic % repositories}`);
  }
  const qs = Array.from({ length: queries }, () => {
    const topic = Math.floor(rand() * topicCount);
    return { text: restate(uniform ? texts[topic]!.split(' ') : topics[topic]!, 0.4).join(' '), repository: `bench/repo-${topic % repositories}` };
  });
  return { texts, repos, queries: qs };
}

/** pgvector's text form, six decimals: vectorLiteral's toFixed(7) costs more than the embedding at 100k rows. */
const fastLiteral = (v: readonly number[]) => `[${v.map((x) => Math.round(x * 1e6) / 1e6).join(',')}]`;

async function copyRows(sql: Sql, statement: string, lines: Iterable<string>): Promise<void> {
  const writable = await sql.unsafe(statement).writable();
  await pipeline(Readable.from(lines), writable);
}

/** Loads the corpus as reflections with vectors of the local version, then builds its index. */
export async function seedKb(sql: Sql, c: KbCorpus): Promise<{ seedMs: number; indexMs: number }> {
  const t0 = performance.now();
  // registered active before the load but indexed after it: one bulk build is many times
  // faster than the index maintained row by row through 100k inserts
  await sql`
    insert into codex_kb.embedding_versions (version, provider, model, dimensions, state, active, promoted_at)
    values (${embedder.version}, ${embedder.provider}, ${embedder.model}, ${embedder.dimensions}, 'ready', true, now())`;
  const BATCH = 5000;
  for (let start = 0; start < c.texts.length; start += BATCH) {
    const texts = c.texts.slice(start, start + BATCH);
    const ids = texts.map(() => randomUUID());
    const vectors = await embedder.embed(texts);
    await copyRows(sql, 'copy codex_kb.reflections (id, reflection_type, content, repository, source) from stdin',
      ids.map((id, i) => `${id}\tlesson\t${texts[i]}\t${c.repos[start + i]}\tsynthetic\n`));
    await copyRows(sql, 'copy codex_kb.reflection_embeddings (reflection_id, version, embedding) from stdin',
      ids.map((id, i) => `${id}\t${embedder.version}\t${fastLiteral(vectors[i]!)}\n`));
  }
  const t1 = performance.now();
  // the graph fits in memory (else the build spills and takes many times longer); `sql` is
  // a one-connection pool, so the session setting reaches buildIndex's statement
  await sql.unsafe(`set maintenance_work_mem = '1GB'`);
  await buildIndex(sql, embedder);
  await sql`analyze codex_kb.reflections`;
  await sql`analyze codex_kb.reflection_embeddings`;
  return { seedMs: t1 - t0, indexMs: performance.now() - t1 };
}

export const percentile = (xs: readonly number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

export interface KbMeasure {
  readonly indexed: number[];
  readonly exact: number[];
  /** Mean over queries of |HNSW top-k ∩ exact top-k| / k. */
  readonly recall: number;
}

async function exactNearest(sql: Sql, vector: number[], repository: string | undefined, k: number): Promise<Neighbour[]> {
  return sql.begin(async (tx) => {
    await tx`set local enable_indexscan = off`;
    await tx`set local enable_bitmapscan = off`;
    return nearest(tx, { version: embedder.version, dimensions: embedder.dimensions, vector, repository, k });
  });
}

/** The plan of the indexed query (its first query), to show which index answered. */
export async function explainKb(sql: Sql, c: KbCorpus, k = 5, filtered = true): Promise<string> {
  const [vector] = await embedder.embed([c.queries[0]!.text]);
  const n = embedder.dimensions;
  return sql.begin(async (tx) => {
    await tx.unsafe('set local hnsw.iterative_scan = relaxed_order');
    const rows = await tx.unsafe<{ 'QUERY PLAN': string }[]>(
      `explain select e.reflection_id from codex_kb.reflection_embeddings e join codex_kb.reflections r on r.id = e.reflection_id
        where e.version = '${embedder.version}' and r.superseded_by is null ${filtered ? `and r.repository = $2` : 'and $2::text is not null'}
        order by e.embedding::vector(${n}) <=> $1::vector(${n}) limit ${k}`, [vectorLiteral(vector!), c.queries[0]!.repository]);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}

/**
 * Each query the way retrieval asks it, and exactly, interleaved (drift on a noisy machine
 * hits both alike). `filtered`: with the query's repository, as retrieval filters first (the
 * planner may then answer a small repository exactly, without the HNSW index); unfiltered,
 * over every reflection, the index answers (explainKb shows it).
 */
export async function measureKb(sql: Sql, c: KbCorpus, k = 5, filtered = true, efSearch?: number): Promise<KbMeasure> {
  const vectors = await embedder.embed(c.queries.map((q) => q.text));
  const indexed: number[] = [];
  const exact: number[] = [];
  let overlap = 0;
  for (const [i, q] of c.queries.entries()) {
    const t0 = performance.now();
    const repository = filtered ? q.repository : undefined;
    const got = await sql.begin((tx) => nearest(tx, { version: embedder.version, dimensions: embedder.dimensions, vector: vectors[i]!, repository, k, efSearch }));
    const t1 = performance.now();
    const truth = await exactNearest(sql, vectors[i]!, repository, k);
    const t2 = performance.now();
    indexed.push(t1 - t0);
    exact.push(t2 - t1);
    const want = new Set(truth.map((n) => n.id));
    overlap += got.filter((n) => want.has(n.id)).length / Math.max(1, truth.length);
  }
  return { indexed, exact, recall: overlap / c.queries.length };
}
