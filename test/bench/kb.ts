// `npm run bench -- kb`: retrieval over 100 000 reflections (20 repositories, the embedded
// default embedder, its HNSW index), and the labeled set.
//   kb_p99_ms           p99 of one retrieval query as the product asks it (repository filter
//                       first, SET LOCAL ef_search and iterative scan, top 5), goal <= 20 ms;
//   kb_recall_at5       recall@5 of the HNSW query against the exact scan of the same data
//                       (index scans off), over all reflections, goal >= 0.95;
//   kb_labeled_recall_at5  recall@5 of the embedded default on the labeled set, goal >= 0.8.
// Ratios against the exact scan measured in the same run, interleaved query by query.
import { connect } from '../../shared/db/index.js';
import { createLocalEmbedder } from '../../shared/kb/embed/local.js';
import { evaluateRecall } from '../../shared/kb/evaluate.js';
import { defaultEfSearch } from '../../shared/kb/search.js';
import { HNSW_EF_CONSTRUCTION, HNSW_M } from '../../shared/kb/versions.js';
import { corpus, explainKb, measureKb, percentile, seedKb } from './kb-seed.js';

const N = Number(process.env.BENCH_KB_REFLECTIONS ?? 100_000);
// 300 queries: a p99 of 100 is the second-worst query, one scheduler hiccup on a noisy machine
const QUERIES = Number(process.env.BENCH_KB_QUERIES ?? 300);
// hnsw.ef_search of the measured queries (nearest's default is defaultEfSearch: max(64, 4k)); BENCH_KB_EF_SWEEP
// adds a line per width (e.g. "40,100,200") to show recall against latency
const EF = process.env.BENCH_KB_EF ? Number(process.env.BENCH_KB_EF) : undefined;
const SWEEP = (process.env.BENCH_KB_EF_SWEEP ?? '').split(',').filter(Boolean).map(Number);

export async function benchKb(url: string): Promise<void> {
  const sql = connect(url, { max: 1 });
  try {
    const data = corpus(N, QUERIES);
    const seeded = await seedKb(sql, data);
    console.log(`kb: ef_search ${EF ?? `default (${defaultEfSearch(5)} for k=5)`}, HNSW m=${HNSW_M} ef_construction=${HNSW_EF_CONSTRUCTION}`);
    console.log(`kb: ${N} reflections in 20 repositories seeded in ${(seeded.seedMs / 1000).toFixed(1)}s, HNSW index built in ${(seeded.indexMs / 1000).toFixed(1)}s; ${QUERIES} queries`);
    const plan = await explainKb(sql, data, 5, false);
    const usesIndex = plan.includes('reflection_embeddings_hnsw_');
    // warm the caches both ways before measuring
    await measureKb(sql, { ...data, queries: data.queries.slice(0, 20) }, 5, true);
    const filtered = await measureKb(sql, data, 5, true, EF);
    const all = await measureKb(sql, data, 5, false, EF);
    for (const ef of SWEEP) {
      const m = await measureKb(sql, data, 5, false, ef);
      console.log(`kb: ef_search=${ef} unfiltered recall@5 vs exact ${m.recall.toFixed(4)} p50=${percentile(m.indexed, 0.5).toFixed(2)}ms p99=${percentile(m.indexed, 0.99).toFixed(2)}ms`);
    }
    const labeled = await evaluateRecall(sql, createLocalEmbedder(), createLocalEmbedder().version, 5);
    const p = (xs: number[], q: number) => percentile(xs, q).toFixed(2);
    console.log(`kb: repository-filtered query p50=${p(filtered.indexed, 0.5)}ms p99=${p(filtered.indexed, 0.99)}ms (exact scan p50=${p(filtered.exact, 0.5)}ms p99=${p(filtered.exact, 0.99)}ms), recall vs exact ${filtered.recall.toFixed(4)}`);
    console.log(`kb: unfiltered HNSW query (index used: ${usesIndex}) p50=${p(all.indexed, 0.5)}ms p99=${p(all.indexed, 0.99)}ms (exact scan p50=${p(all.exact, 0.5)}ms p99=${p(all.exact, 0.99)}ms)`);
    console.log(`kb: labeled set ${labeled.queries} queries over ${labeled.lessons} lessons, ${labeled.misses} found nothing relevant in the top 5`);
    const p99 = percentile(filtered.indexed, 0.99);
    console.log(`RESULT kb_p99_ms=${p99.toFixed(2)} kb_recall_at5=${all.recall.toFixed(4)} kb_labeled_recall_at5=${labeled.recall.toFixed(4)}`);
    console.log(`RESULT kb_filtered_p50_ms=${p(filtered.indexed, 0.5)} ratio_to_exact_scan=${(percentile(filtered.indexed, 0.5) / percentile(filtered.exact, 0.5)).toFixed(3)} kb_hnsw_p99_ms=${p(all.indexed, 0.99)} hnsw_ratio_to_exact_scan=${(percentile(all.indexed, 0.5) / percentile(all.exact, 0.5)).toFixed(3)} under_20ms=${p99 <= 20} recall_ok=${all.recall >= 0.95} labeled_ok=${labeled.recall >= 0.8}`);
  } finally {
    await sql.end();
  }
}
