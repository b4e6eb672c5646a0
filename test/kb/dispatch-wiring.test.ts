// The KB's pass as dispatch runs it (the system over real HTTP, the embeddings provider a
// FAKE that hangs): the tick answers at once while the pass waits on the provider beside it,
// ended runs are reflected all the same, and their vectors come once the provider answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, tick, type System } from '../helpers/system.js';
import { until } from '../local/proc.js';
import { startFakeEmbeddings, type FakeEmbeddings } from './fake-embeddings.js';
import { endedRun, seedTask } from './seed.js';

let fake: FakeEmbeddings;
let sys: System;
beforeAll(async () => {
  fake = await startFakeEmbeddings(64);
  sys = await startSystem({
    FACTEUR_EMBEDDINGS_URL: fake.url, FACTEUR_EMBEDDINGS_MODEL: 'fake-embed', FACTEUR_EMBEDDINGS_DIMENSIONS: '64',
    FACTEUR_EMBEDDINGS_VERSION: 'fake-64-v1', FACTEUR_EMBEDDINGS_TIMEOUT_MS: '5000', FACTEUR_EMBEDDINGS_MAX_TOTAL_MS: '6000',
    FACTEUR_KB_RETRY_BASE_MS: '0',
  });
});
afterAll(async () => {
  fake.outage = undefined;
  await sys.close();
  await fake.close();
});

describe('the KB pass in dispatch', () => {
  it('the tick answers at once while the embedder hangs; reflections are written, vectors follow when it answers', async () => {
    const sql = sys.db.sql;
    const runId = await endedRun(sql, await seedTask(sql), { outcome: 'failed', paths: ['src/x.ts'] });
    fake.outage = { kind: 'slow', ms: 4000 };
    const started = Date.now();
    await tick(sys);
    expect(Date.now() - started).toBeLessThan(3000);
    await until('the run reflected', async () => (await sql`select 1 from codex_kb.reflections where run_id = ${runId}`).length > 0, 10_000);
    await until('the pass to be asking the provider', async () => fake.requests.length > 0, 10_000);
    const during = Date.now();
    await tick(sys);
    expect(Date.now() - during).toBeLessThan(3000);
    expect(await sql`select 1 from codex_kb.reflection_embeddings`).toHaveLength(0);
    fake.outage = undefined;
    await until('the vector', async () => {
      await tick(sys);
      return (await sql`select 1 from codex_kb.reflection_embeddings e join codex_kb.reflections r on r.id = e.reflection_id where r.run_id = ${runId} and e.version = 'fake-64-v1'`).length === 1;
    }, 30_000, 500);
  }, 60_000);
});
