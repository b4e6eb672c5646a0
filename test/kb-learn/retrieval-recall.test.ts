// The bench's recall check, small (2 000 reflections): the HNSW query finds what the exact
// scan finds (recall@5 >= 0.95 of the exact answer), through the version's index (EXPLAIN).
// Over all reflections, unfiltered: with a repository filter on so few rows the planner
// rightly answers exactly, without the index, and there is nothing to compare.
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type Sql } from '../../shared/db/index.js';
import { corpus, explainKb, measureKb, seedKb } from '../bench/kb-seed.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

let db: TestDb;
let sql: Sql;
const data = corpus(2000, 100);

beforeAll(async () => {
  db = await createTestDb();
  sql = connect(db.url, { max: 1 });
  await seedKb(sql, data);
}, 120_000);

describe('retrieval recall against the exact scan', () => {
  it('recall@5 of the HNSW query is at least 0.95 of the exact answer', { timeout: 120_000 }, async () => {
    const plan = await explainKb(sql, data, 5, false);
    expect(plan).toContain('reflection_embeddings_hnsw_local_hash_384_v1');
    const m = await measureKb(sql, data, 5, false);
    console.log(`recall@5 vs exact = ${m.recall.toFixed(4)} over ${data.queries.length} queries`);
    expect(m.recall).toBeGreaterThanOrEqual(0.95);
    await sql.end();
  });
});
