// Reuse measured on real PostgreSQL: a run's outcome credited to each lesson injected into it
// (succeeded and tests passed → helped; failed, a failing test report, changes requested →
// hurt; cancelled → neither), exactly once even with two passes at once, and a lesson that
// keeps coming with failures sinks in the next retrieval.
import { beforeAll, describe, expect, it } from 'vitest';
import { createLocalEmbedder } from '../../shared/kb/embed/local.js';
import { retrievedContextFor } from '../../shared/kb/retrieve.js';
import { scoreRetrievals } from '../../shared/kb/usefulness.js';
import { ensureVersion } from '../../shared/kb/versions.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, extraPool, type TestDb } from '../helpers/db.js';
import { config, deps, seedLesson, seedRun } from './fixtures.js';

let db: TestDb;
const embedder = createLocalEmbedder();
const kb = (sql = db.sql) => ({ sql, log: silentLogger, config, embedder });

beforeAll(async () => {
  db = await createTestDb();
  await ensureVersion(db.sql, embedder);
});

/** A run given the repository's lessons, then ended with `status` (and an artifact when given). */
async function runWith(repo: string, query: string, status: string, artifact?: { type: string; data: unknown }) {
  const run = await seedRun(db.sql, { repository: repo });
  await retrievedContextFor(deps(db.sql, embedder), { ...run, stage: 'implementation', query, paths: [] });
  if (artifact) await db.sql`insert into codex_kb.artifacts (idea_id, task_id, run_id, artifact_type, data) values (${run.ideaId}, ${run.taskId}, ${run.runId}, ${artifact.type}, ${db.sql.json(artifact.data as never)})`;
  await db.sql`update codex_kb.task_runs set status = ${status}, completed_at = now() where id = ${run.runId}`;
  return run;
}

const counts = async (id: string) =>
  (await db.sql<{ injected_count: number; helped_count: number; hurt_count: number; usefulness: number }[]>`
    select injected_count, helped_count, hurt_count, usefulness from codex_kb.reflections where id = ${id}`)[0]!;

describe('usefulness', () => {
  it.each([
    ['succeeded, tests passed', 'succeeded', 'helped', { type: 'test-report', data: { toolchain: 'node', passed: true, checks: [] } }, [1, 1, 0]],
    ['succeeded, no artifacts', 'succeeded', 'helped', undefined, [1, 1, 0]],
    ['failed', 'failed', 'hurt', undefined, [1, 0, 1]],
    ['succeeded with a failing test report', 'succeeded', 'hurt', { type: 'test-report', data: { toolchain: 'node', passed: false, checks: [] } }, [1, 0, 1]],
    ['a review that requested changes', 'succeeded', 'hurt', { type: 'review', data: { verdict: 'changes_requested' } }, [1, 0, 1]],
    ['cancelled', 'cancelled', 'neutral', undefined, [1, 0, 0]],
  ] as const)('%s (run %s) → %s', async (name, status, outcome, artifact, [injected, helped, hurt]) => {
    const repo = `score/${name.replace(/[^a-z]/g, '-')}`;
    const lesson = await seedLesson(db.sql, { repository: repo, content: `the lesson for ${name}`, embedder });
    const run = await runWith(repo, `lesson for ${name}`, status, artifact);
    expect(await scoreRetrievals(kb())).toBeGreaterThanOrEqual(1);
    const [k] = await db.sql`select outcome, scored_at from codex_kb.kb_retrievals where run_id = ${run.runId}`;
    expect(k!.outcome).toBe(outcome);
    expect(k!.scored_at).not.toBeNull();
    const c = await counts(lesson);
    expect([c.injected_count, c.helped_count, c.hurt_count]).toEqual([injected, helped, hurt]);
    expect(c.usefulness).toBeCloseTo((helped - hurt) / (helped + hurt + 2));
    // scored once: a second pass changes nothing
    await scoreRetrievals(kb());
    expect(await counts(lesson)).toEqual(c);
  });

  it('a run still going is not scored', async () => {
    const repo = 'score/running';
    const lesson = await seedLesson(db.sql, { repository: repo, content: 'lesson while running', embedder });
    const run = await seedRun(db.sql, { repository: repo });
    await retrievedContextFor(deps(db.sql, embedder), { ...run, stage: 'implementation', query: 'lesson while running', paths: [] });
    await scoreRetrievals(kb());
    expect((await counts(lesson)).injected_count).toBe(0);
    expect((await db.sql`select scored_at from codex_kb.kb_retrievals where run_id = ${run.runId}`)[0]!.scored_at).toBeNull();
  });

  it('exactly once with two passes at once on separate connections', async () => {
    const repo = 'score/race';
    const lesson = await seedLesson(db.sql, { repository: repo, content: 'the race lesson about flaky sockets', embedder });
    for (let i = 0; i < 12; i++) await runWith(repo, 'race lesson flaky sockets', i % 3 === 0 ? 'failed' : 'succeeded');
    const other = extraPool(db, 4);
    const [a, b] = await Promise.all([scoreRetrievals(kb()), scoreRetrievals(kb(other))]);
    expect(a + b).toBeGreaterThanOrEqual(12);
    const c = await counts(lesson);
    expect([c.injected_count, c.helped_count, c.hurt_count]).toEqual([12, 8, 4]);
  });

  it('a lesson that keeps coming with failures sinks below one that helps', async () => {
    const repo = 'score/sink';
    const bad = await seedLesson(db.sql, { repository: repo, content: 'cache invalidation: clear every key on each request', embedder });
    const good = await seedLesson(db.sql, { repository: repo, content: 'cache invalidation: version the keys per deploy', embedder });
    const order = async () => {
      const run = await seedRun(db.sql, { repository: repo });
      await retrievedContextFor(deps(db.sql, embedder), { ...run, stage: 'implementation', query: 'cache invalidation clear every key', paths: [] });
      return (await db.sql<{ injected: string[] }[]>`select injected::text[] as injected from codex_kb.kb_retrievals where run_id = ${run.runId}`)[0]!.injected;
    };
    expect(await order()).toEqual([bad, good]); // more alike the query: first while untried
    // two runs given both fail; four given only the good one (the bad one held out) succeed
    for (let i = 0; i < 2; i++) await runWith(repo, 'cache invalidation clear every key', 'failed');
    await db.sql`update codex_kb.reflections set superseded_by = ${good} where id = ${bad}`;
    for (let i = 0; i < 4; i++) await runWith(repo, 'cache invalidation', 'succeeded');
    await db.sql`update codex_kb.reflections set superseded_by = null where id = ${bad}`;
    await scoreRetrievals(kb());
    expect((await counts(bad)).usefulness).toBeLessThan(0);
    expect((await counts(good)).usefulness).toBeGreaterThan(0);
    expect(await order()).toEqual([good, bad]);
  });
});
