// Reflections from the backlog on real PostgreSQL: what Facteur writes for a run (the same
// bytes every time), one reflection per reflection artifact, the cap and its marker on a
// 5 MB artifact, exactly once under four concurrent passes on separate pools, and a failing
// run kept with its attempts, backoff and error while the rest of its batch commits.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../shared/db/index.js';
import { reflectBacklog, reflectBatch } from '../../shared/kb/reflect.js';
import { TRUNCATION_MARKER } from '../../shared/kb/reflection-text.js';
import { createTestDb, extraPool, type TestDb } from '../helpers/db.js';
import { endedRun, kbDeps, seedTask } from './seed.js';

let db: TestDb;
let sql: Sql;
beforeAll(async () => {
  db = await createTestDb();
  sql = db.sql;
});

const reflectionsOf = (runId: string) =>
  sql<{ source: string; content: string; stage: string; outcome: string; paths: string[]; signature: string | null; truncated: boolean; repository: string; idea_id: string; task_id: string; artifact_id: string | null; content_digest: string }[]>`
    select source, content, stage, outcome, paths, signature, truncated, repository, idea_id, task_id, artifact_id, content_digest
      from codex_kb.reflections where run_id = ${runId} order by source desc, created_at`;

describe('reflections', () => {
  it("Facteur's reflection holds stage, outcome, signature, review, tests, paths and title — the same bytes when made again", async () => {
    const t = await seedTask(sql, { repository: 'acme/parser', stage: 'review', title: 'Reject {{ templates }} and \'; drop table x; --' });
    const runId = await endedRun(sql, t, {
      outcome: 'failed',
      errorCode: 'gate_failed',
      errorMessage: 'the test gate failed [signature: AssertionError: expected <n> to equal <n>]',
      paths: ['src/z.ts', 'src/a.ts'],
      artifacts: [
        { type: 'review', data: { verdict: 'changes_requested', summary: 'The parser accepts trailing commas.' } },
        { type: 'test-report', data: { toolchain: 'node', passed: false, checks: [
          { name: 'test', command: 'npm test', exitCode: 1, durationMs: 10, passed: 3, failed: 1, skipped: 0, summary: '1 of 4 tests failed', outputTail: 'x'.repeat(60_000), failure: { code: 'test_failed', signature: 'other' } },
          { name: 'lint', command: 'npm run lint', exitCode: 0, durationMs: 5, passed: null, failed: null, skipped: null, summary: 'clean', outputTail: '' },
        ] } },
      ],
    });
    const n = await reflectBacklog(kbDeps(sql));
    expect(n).toBe(1);
    const [r] = await reflectionsOf(runId);
    expect(r).toMatchObject({ source: 'facteur', stage: 'review', outcome: 'failed', repository: 'acme/parser', idea_id: t.ideaId, task_id: t.taskId, truncated: false,
      paths: ['src/a.ts', 'src/z.ts'], signature: 'AssertionError: expected <n> to equal <n>' });
    expect(r!.content).toBe([
      `Run of review task ${(await sql<{ key: string }[]>`select key from codex_kb.tasks where id = ${t.taskId}`)[0]!.key} "Reject {{ templates }} and '; drop table x; --" in acme/parser: failed (attempt ${(await sql<{ attempt: number }[]>`select attempt from codex_kb.task_runs where id = ${runId}`)[0]!.attempt}).`,
      'Failure: gate_failed: the test gate failed',
      'Failure signature: AssertionError: expected <n> to equal <n>',
      'Review: changes_requested — The parser accepts trailing commas.',
      'Tests (node): failed.',
      '- test (exit 1): 1 of 4 tests failed',
      '- lint (exit 0): clean',
      'Paths: src/a.ts, src/z.ts',
    ].join('\n'));
    expect(await sql`select 1 from codex_kb.kb_backlog where run_id = ${runId}`).toHaveLength(0);

    // made again from the same run: the same bytes
    await sql`delete from codex_kb.reflections where run_id = ${runId}`;
    await sql`insert into codex_kb.kb_backlog (run_id) values (${runId})`;
    await reflectBacklog(kbDeps(sql));
    const [again] = await reflectionsOf(runId);
    expect(again!.content).toBe(r!.content);
    expect(again!.content_digest).toBe(r!.content_digest);
  });

  it('one reflection per reflection artifact (source artifact, its id); a 5 MB one is cut to the cap with the marker', async () => {
    const t = await seedTask(sql);
    const huge = 'The fixture loader needs TZ=UTC. '.repeat(160_000); // ≈ 5.3 MB
    const runId = await endedRun(sql, t, {
      outcome: 'succeeded',
      paths: ['src/loader.ts'],
      artifacts: [
        { type: 'reflection', data: { lesson: 'Set TZ=UTC before the loader tests.', paths: ['test/loader.test.ts'] } },
        { type: 'reflection', data: { lesson: huge } },
        { type: 'reflection', data: 'a plain string lesson with ünïcödé ✓' },
      ],
    });
    await reflectBacklog(kbDeps(sql, { FACTEUR_KB_REFLECTION_MAX_BYTES: '8192' }));
    const rows = await reflectionsOf(runId);
    expect(rows.map((r) => r.source)).toEqual(['facteur', 'artifact', 'artifact', 'artifact']);
    const [own, small, big, plain] = rows;
    expect(own!.content).toContain('succeeded');
    expect(small).toMatchObject({ content: 'Set TZ=UTC before the loader tests.', paths: ['test/loader.test.ts'], truncated: false });
    expect(big!.truncated).toBe(true);
    expect(Buffer.byteLength(big!.content)).toBeLessThanOrEqual(8192);
    expect(Buffer.byteLength(big!.content)).toBeGreaterThan(8000);
    expect(big!.content).toMatch(new RegExp(`\\n\\${TRUNCATION_MARKER} \\d+ of ${Buffer.byteLength(huge)} bytes kept\\]$`));
    expect(big!.paths).toEqual(['src/loader.ts']);
    expect(plain).toMatchObject({ content: 'a plain string lesson with ünïcödé ✓', truncated: false });
    const ids = await sql<{ id: string }[]>`select id from codex_kb.artifacts where run_id = ${runId} and artifact_type = 'reflection'`;
    expect(rows.slice(1).map((r) => r.artifact_id).sort()).toEqual(ids.map((i) => i.id).sort());
  });

  it('exactly once under four concurrent passes on separate pools', async () => {
    const runs: string[] = [];
    for (let i = 0; i < 40; i++) {
      const t = await seedTask(sql, { repository: `acme/r${i % 3}` });
      runs.push(await endedRun(sql, t, { outcome: i % 2 ? 'succeeded' : 'failed', paths: [`src/f${i % 5}.ts`], artifacts: [{ type: 'reflection', data: { lesson: `lesson ${i}` } }] }));
    }
    const pools = [0, 1, 2, 3].map(() => extraPool(db, 3));
    // small batches so the passes interleave many times
    const counts = await Promise.all(pools.map((p) => reflectBacklog(kbDeps(p, { FACTEUR_KB_BATCH: '3' }))));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(40);
    expect(counts.filter((c) => c > 0).length).toBeGreaterThan(1);
    const perRun = await sql<{ run_id: string; facteur: number; artifact: number }[]>`
      select run_id, count(*) filter (where source = 'facteur')::int as facteur, count(*) filter (where source = 'artifact')::int as artifact
        from codex_kb.reflections where run_id = any(${runs}::uuid[]) group by run_id`;
    expect(perRun).toHaveLength(40);
    expect(perRun.every((r) => r.facteur === 1 && r.artifact === 1)).toBe(true);
    expect(await sql`select 1 from codex_kb.kb_backlog`).toHaveLength(0);
  });

  it('a run whose reflection fails stays in the backlog with attempts, backoff and its error; the rest of the batch commits', async () => {
    const t = await seedTask(sql);
    const bad = await endedRun(sql, t, { outcome: 'failed' });
    const good = await endedRun(sql, t, { outcome: 'succeeded' });
    // a negative control in this test's database only: writing the bad run's reflection fails
    await sql.unsafe(`create or replace function public.kb_test_refuse() returns trigger language plpgsql as $$ begin raise exception 'refused for the test'; end $$`);
    await sql.unsafe(`create trigger kb_test_refuse before insert on codex_kb.reflections for each row when (new.run_id = '${bad}') execute function public.kb_test_refuse()`);
    try {
      const r = await reflectBatch(kbDeps(sql, { FACTEUR_KB_RETRY_BASE_MS: '60000' }));
      expect(r).toMatchObject({ runs: 1, failed: 1 });
      const [row] = await sql<{ attempts: number; last_error: string; wait_s: number }[]>`
        select attempts, last_error, extract(epoch from next_attempt_at - now())::float8 as wait_s from codex_kb.kb_backlog where run_id = ${bad}`;
      expect(row).toMatchObject({ attempts: 1, last_error: expect.stringContaining('refused for the test') });
      expect(row!.wait_s).toBeGreaterThan(50);
      expect(await reflectionsOf(good)).toHaveLength(1);
      expect(await reflectionsOf(bad)).toHaveLength(0);
      // not due yet: a pass leaves it
      expect(await reflectBacklog(kbDeps(sql))).toBe(0);
    } finally {
      await sql.unsafe('drop trigger kb_test_refuse on codex_kb.reflections');
    }
    await sql`update codex_kb.kb_backlog set next_attempt_at = now() where run_id = ${bad}`;
    expect(await reflectBacklog(kbDeps(sql))).toBe(1);
    expect(await reflectionsOf(bad)).toHaveLength(1);
  });
});
