// The KB's pass on real PostgreSQL + pgvector: the configured version registered and made
// active, reflections embedded under it in batches; with the provider (a FAKE HTTP server)
// down, slow, rate-limited or answering the wrong dimension, reflections keep being written,
// the unembedded backlog grows, nothing wrong is stored, and once it is back every
// reflection gets exactly one vector. Other parts' steps run after the store's, and a
// failing step does not stop the pass.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../shared/db/index.js';
import type { KbStep } from '../../shared/kb/deps.js';
import { createEmbedder } from '../../shared/kb/embed/index.js';
import { LOOK_EVERY_MS, unembeddedCount } from '../../shared/kb/embed-step.js';
import { createKnowledgeBase } from '../../shared/kb/pass.js';
import { activeVersion } from '../../shared/kb/versions.js';
import { createLogger } from '../../shared/log/index.js';
import { createTestDb } from '../helpers/db.js';
import { startFakeEmbeddings, type FakeEmbeddings } from './fake-embeddings.js';
import { endedRun, kbDeps, seedTask } from './seed.js';

let fake: FakeEmbeddings;
beforeAll(async () => {
  fake = await startFakeEmbeddings(64);
});
afterAll(() => fake.close());

const providerEnv = () => ({
  FACTEUR_EMBEDDINGS_URL: fake.url, FACTEUR_EMBEDDINGS_MODEL: 'fake-embed', FACTEUR_EMBEDDINGS_DIMENSIONS: '64',
  FACTEUR_EMBEDDINGS_VERSION: 'fake-64-v1', FACTEUR_EMBEDDINGS_API_KEY: 'sk-never-logged', FACTEUR_EMBEDDINGS_BATCH: '4',
  FACTEUR_EMBEDDINGS_TIMEOUT_MS: '300', FACTEUR_EMBEDDINGS_MAX_TOTAL_MS: '800', FACTEUR_KB_BATCH: '5',
});
const vectors = (sql: Sql) => sql<{ n: number; dims: number }[]>`select count(*)::int as n, min(vector_dims(embedding))::int as dims from codex_kb.reflection_embeddings`;
const runsWithLessons = async (sql: Sql, n: number) => {
  for (let i = 0; i < n; i++) {
    await endedRun(sql, await seedTask(sql), { outcome: i % 2 ? 'succeeded' : 'failed', paths: [`src/m${i}.ts`], artifacts: [{ type: 'reflection', data: { lesson: `module ${i} needs its fixture` } }] });
  }
};

describe('the KB pass', () => {
  it('registers and activates the local default at its first pass and embeds every reflection under it', async () => {
    const { sql } = await createTestDb();
    await runsWithLessons(sql, 7);
    const kb = createKnowledgeBase(kbDeps(sql, { FACTEUR_KB_BATCH: '3' }));
    const report = await kb.runOnce();
    expect(report.versionReady).toBe(true);
    expect(report.steps.map((s) => [s.name, s.handled])).toEqual([['reflect', 7], ['embed', 14]]);
    expect(await activeVersion(sql)).toMatchObject({ version: 'local-hash-384-v1', state: 'ready' });
    expect(await vectors(sql)).toEqual([{ n: 14, dims: 384 }]);
    expect(await unembeddedCount({ sql }, 'local-hash-384-v1')).toBe(0);
    // nothing more to do: a second pass handles nothing
    expect((await kb.runOnce()).steps.map((s) => s.handled)).toEqual([0, 0]);
  });

  it('the provider down, slow, rate-limited, then wrong: reflections still written, the backlog grows, nothing wrong stored; back: all embedded once', async () => {
    const { sql } = await createTestDb();
    // the clock moves past each rest, so every fault is met by a real request
    let clock = Date.UTC(2026, 0, 1);
    const lines: string[] = [];
    const log = createLogger('debug', {}, (l) => lines.push(l));
    const deps = { ...kbDeps(sql, providerEnv()), log, embedder: createEmbedder(kbDeps(sql, providerEnv()).config, { baseBackoffMs: 5, maxBackoffMs: 20 }), now: () => new Date(clock) };
    const kb = createKnowledgeBase(deps);
    fake.requests.length = 0;
    const faults = [
      { kind: 'status', status: 503 },
      { kind: 'slow', ms: 2000 },
      { kind: 'status', status: 429, retryAfter: '30' },
      { kind: 'dimensions', dimensions: 32 },
    ] as const;
    let reflections = 0;
    for (const fault of faults) {
      fake.outage = fault;
      await runsWithLessons(sql, 3);
      reflections += 6;
      clock += 3_600_000;
      const asked = fake.requests.length;
      const report = await kb.runOnce();
      expect(fake.requests.length).toBeGreaterThan(asked);
      expect(report.steps.find((s) => s.name === 'reflect')!.handled).toBe(3);
      expect(report.steps.find((s) => s.name === 'embed')).toMatchObject({ handled: 0 });
      expect(await unembeddedCount({ sql }, 'fake-64-v1')).toBe(reflections);
      expect((await vectors(sql))[0]!.n).toBe(0);
    }
    expect(await activeVersion(sql)).toMatchObject({ version: 'fake-64-v1', provider: 'openai', dimensions: 64 });
    // each outage logged as degraded, with how much waits; the key in none of it
    const degraded = lines.filter((l) => l.includes('embedder degraded')).map((l) => JSON.parse(l) as { waiting: number; code: string });
    expect(degraded.map((d) => d.code)).toEqual(['embedder_unavailable', 'embedder_timeout', 'embedder_rate_limited', 'embedder_dimension']);
    expect(degraded.map((d) => d.waiting)).toEqual([6, 12, 18, 24]);
    expect(lines.join('\n')).not.toContain('sk-never-logged');
    fake.outage = undefined;
    clock += 3_600_000;
    const back = await kb.runOnce();
    expect(back.steps.find((s) => s.name === 'embed')!.handled).toBe(reflections);
    expect(await vectors(sql)).toEqual([{ n: reflections, dims: 64 }]);
    expect(await unembeddedCount({ sql }, 'fake-64-v1')).toBe(0);
    const per = await sql<{ n: number }[]>`select count(*)::int as n from codex_kb.reflection_embeddings group by reflection_id having count(*) > 1`;
    expect(per).toHaveLength(0);
  }, 60_000);

  it('a failing embedder rests for its backoff (Retry-After honoured) before it is asked again', async () => {
    const { sql } = await createTestDb();
    const env = { ...providerEnv(), FACTEUR_KB_RETRY_BASE_MS: '1000' };
    let clock = Date.UTC(2026, 0, 1);
    const deps = { ...kbDeps(sql, env), embedder: createEmbedder(kbDeps(sql, env).config, { baseBackoffMs: 5, maxBackoffMs: 20 }), now: () => new Date(clock) };
    const kb = createKnowledgeBase(deps);
    await runsWithLessons(sql, 1);
    fake.requests.length = 0;
    fake.outage = { kind: 'status', status: 429, retryAfter: '30' };
    await kb.runOnce();
    expect(fake.requests).toHaveLength(1);
    fake.outage = undefined;
    clock += 10_000;
    expect((await kb.runOnce()).steps.find((s) => s.name === 'embed')!.handled).toBe(0);
    expect(fake.requests).toHaveLength(1);
    clock += 21_000;
    expect((await kb.runOnce()).steps.find((s) => s.name === 'embed')!.handled).toBe(2);
  });

  it('a text the provider refuses holds back no other: the rest of its batch is embedded, it waits for a later pass', async () => {
    const { sql } = await createTestDb();
    const deps = { ...kbDeps(sql, providerEnv()), embedder: createEmbedder(kbDeps(sql, providerEnv()).config, { baseBackoffMs: 5, maxBackoffMs: 20 }) };
    const kb = createKnowledgeBase(deps);
    await endedRun(sql, await seedTask(sql), { outcome: 'failed', artifacts: [{ type: 'reflection', data: { lesson: 'POISON lesson' } }] });
    await runsWithLessons(sql, 3);
    fake.outage = { kind: 'refuse', text: 'POISON' };
    const report = await kb.runOnce();
    expect(report.steps.find((s) => s.name === 'embed')!.handled).toBe(7);
    expect(await unembeddedCount({ sql }, 'fake-64-v1')).toBe(1);
    fake.outage = undefined;
    expect((await kb.runOnce()).steps.find((s) => s.name === 'embed')!.handled).toBe(1);
    expect(await unembeddedCount({ sql }, 'fake-64-v1')).toBe(0);
  });

  it('looks for reflections it did not write (another instance\'s) every LOOK_EVERY_MS, its own at once', async () => {
    const { sql } = await createTestDb();
    let clock = Date.UTC(2026, 0, 1);
    const kb = createKnowledgeBase({ ...kbDeps(sql), now: () => new Date(clock) });
    await kb.runOnce();
    await sql`insert into codex_kb.reflections (reflection_type, content, source) values ('synthetic', 'written by another instance', 'synthetic')`;
    clock += 1000;
    expect((await kb.runOnce()).steps.find((s) => s.name === 'embed')!.handled).toBe(0);
    // its own: at once (and the look finds the other one too)
    await runsWithLessons(sql, 1);
    clock += 1000;
    expect((await kb.runOnce()).steps.find((s) => s.name === 'embed')!.handled).toBe(3);
    await sql`insert into codex_kb.reflections (reflection_type, content, source) values ('synthetic', 'another one', 'synthetic')`;
    clock += 1000;
    expect((await kb.runOnce()).steps.find((s) => s.name === 'embed')!.handled).toBe(0);
    clock += LOOK_EVERY_MS;
    expect((await kb.runOnce()).steps.find((s) => s.name === 'embed')!.handled).toBe(1);
  });

  it("runs other parts' steps after its own, in order; a failing step is reported and the next still runs", async () => {
    const { sql } = await createTestDb();
    const seen: string[] = [];
    const broken: KbStep = async () => {
      seen.push('broken');
      throw new Error('this step is broken');
    };
    const scoring: KbStep = async (d) => {
      seen.push('scoring');
      const [row] = await d.sql<{ n: number }[]>`select count(*)::int as n from codex_kb.reflections`;
      return row!.n;
    };
    await runsWithLessons(sql, 2);
    const report = await createKnowledgeBase(kbDeps(sql), { steps: [{ name: 'broken', run: broken }, { name: 'scoring', run: scoring }] }).runOnce();
    expect(seen).toEqual(['broken', 'scoring']);
    expect(report.steps.map((s) => s.name)).toEqual(['reflect', 'embed', 'broken', 'scoring']);
    expect(report.steps[2]).toMatchObject({ handled: 0, error: 'this step is broken' });
    expect(report.steps[3]).toMatchObject({ handled: 4 });
  });

  it('nudges coalesce into background passes; idle waits for them', async () => {
    const { sql } = await createTestDb();
    await runsWithLessons(sql, 3);
    const kb = createKnowledgeBase(kbDeps(sql));
    kb.nudge();
    kb.nudge();
    kb.nudge();
    await kb.idle();
    expect(await sql`select 1 from codex_kb.kb_backlog`).toHaveLength(0);
    expect(await unembeddedCount({ sql }, 'local-hash-384-v1')).toBe(0);
  });
});
