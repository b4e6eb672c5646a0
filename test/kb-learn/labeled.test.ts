// The labeled set and recall@k on it: deterministic, a few hundred lessons, the embedded
// default embedder above the 0.8 at k=5 through the real HNSW index, and the scratch
// scope leaves nothing behind.
import { beforeAll, describe, expect, it } from 'vitest';
import { createLocalEmbedder } from '../../shared/kb/embed/local.js';
import { evaluateRecall } from '../../shared/kb/evaluate.js';
import { labeledSet } from '../../shared/kb/labeled.js';
import { ensureVersion } from '../../shared/kb/versions.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});

describe('labeled set', () => {
  it('is the same set on every call, with known relevant lessons for every query', () => {
    const a = labeledSet();
    const b = labeledSet();
    expect(b).toEqual(a);
    expect(a.lessons.length).toBeGreaterThan(300);
    expect(a.queries.length).toBeGreaterThanOrEqual(40);
    expect(new Set(a.lessons.map((l) => l.repository)).size).toBeGreaterThanOrEqual(5);
    const keys = new Set(a.lessons.map((l) => l.key));
    expect(keys.size).toBe(a.lessons.length);
    for (const q of a.queries) for (const r of q.relevant) expect(keys.has(r)).toBe(true);
  });

  it('the embedded default reaches recall@5 >= 0.8, and the evaluation leaves nothing behind', async () => {
    const embedder = createLocalEmbedder();
    await ensureVersion(db.sql, embedder);
    const r = await evaluateRecall(db.sql, embedder, embedder.version, 5);
    console.log(`labeled recall@5 (${embedder.version}) = ${r.recall}, misses ${r.misses}/${r.queries}`);
    expect(r.recall).toBeGreaterThanOrEqual(0.8);
    const [left] = await db.sql<{ n: number }[]>`select count(*)::int as n from codex_kb.reflections`;
    expect(left!.n).toBe(0);
    // a weaker embedder (16 dimensions: hash collisions everywhere) measures lower on the same set
    const weak = createLocalEmbedder(16);
    await db.sql`insert into codex_kb.embedding_versions (version, provider, model, dimensions) values (${weak.version}, 'local', 'feature-hashing', 16)`;
    const w = await evaluateRecall(db.sql, weak, weak.version, 5);
    expect(w.recall).toBeLessThan(r.recall);
  });
});
