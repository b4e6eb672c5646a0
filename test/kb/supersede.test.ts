// Supersession on real PostgreSQL: a later lesson on overlapping paths of the same
// repository and stage, from a run with the opposite outcome, supersedes the earlier one —
// whatever order the runs are reflected in — and a superseded lesson no longer comes back
// from the nearest-neighbour query. Lessons on other paths, stages, repositories, or from
// cancelled runs, are left alone.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../shared/db/index.js';
import { createKnowledgeBase } from '../../shared/kb/pass.js';
import { reflectBacklog } from '../../shared/kb/reflect.js';
import { embedLocal } from '../../shared/kb/embed/index.js';
import { nearest } from '../../shared/kb/search.js';
import { createTestDb } from '../helpers/db.js';
import { endedRun, kbDeps, seedTask } from './seed.js';

let sql: Sql;
beforeAll(async () => {
  sql = (await createTestDb()).sql;
});

const at = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 12, minutes));
const state = async (runId: string) =>
  sql<{ superseded_by_run: string | null; source: string }[]>`
    select s.run_id as superseded_by_run, r.source from codex_kb.reflections r
      left join codex_kb.reflections s on s.id = r.superseded_by where r.run_id = ${runId} order by r.source desc`;

describe('supersession', () => {
  it('a later success on overlapping paths supersedes the earlier failure; other lessons stay', async () => {
    const repo = 'acme/super';
    const impl = await seedTask(sql, { repository: repo, title: 'Fix the date parser' });
    const failed = await endedRun(sql, impl, {
      outcome: 'failed', endedAt: at(1), paths: ['src/date.ts'],
      errorMessage: 'gates failed [signature: test parseDate fails because TZ is unset]',
      artifacts: [{ type: 'reflection', data: { lesson: 'test parseDate fails because TZ is unset' } }],
    });
    const otherPaths = await endedRun(sql, await seedTask(sql, { repository: repo }), { outcome: 'failed', endedAt: at(2), paths: ['src/other.ts'] });
    const review = await endedRun(sql, await seedTask(sql, { repository: repo, stage: 'review' }), { outcome: 'failed', endedAt: at(2), paths: ['src/date.ts'] });
    const cancelled = await endedRun(sql, await seedTask(sql, { repository: repo }), { outcome: 'cancelled', endedAt: at(2), paths: ['src/date.ts'] });
    const elsewhere = await endedRun(sql, await seedTask(sql, { repository: 'acme/elsewhere' }), { outcome: 'failed', endedAt: at(2), paths: ['src/date.ts'] });
    await reflectBacklog(kbDeps(sql));
    const fixed = await endedRun(sql, impl, {
      outcome: 'succeeded', endedAt: at(5), paths: ['src/date.ts', 'src/tz.ts'],
      artifacts: [{ type: 'reflection', data: { lesson: 'parseDate passes once TZ=UTC is set in the test setup' } }],
    });
    await reflectBacklog(kbDeps(sql));
    expect(await state(failed)).toEqual([
      { source: 'facteur', superseded_by_run: fixed },
      { source: 'artifact', superseded_by_run: fixed },
    ]);
    expect((await state(fixed)).every((r) => r.superseded_by_run === null)).toBe(true);
    for (const id of [otherPaths, review, cancelled, elsewhere]) expect((await state(id)).every((r) => r.superseded_by_run === null)).toBe(true);

    // the corrected fact stops coming back from retrieval
    const kb = createKnowledgeBase(kbDeps(sql));
    await kb.runOnce();
    const found = await sql.begin((tx) => nearest(tx as never, { version: 'local-hash-384-v1', dimensions: 384, vector: embedLocal('test parseDate fails because TZ is unset'), repository: repo, k: 10 }));
    const runsFound = await sql<{ run_id: string }[]>`select run_id from codex_kb.reflections where id = any(${found.map((f) => f.id)}::uuid[])`;
    expect(runsFound.map((r) => r.run_id)).toContain(fixed);
    expect(runsFound.map((r) => r.run_id)).not.toContain(failed);
  });

  it('the same live set whatever the reflection order: an earlier failure reflected last is born superseded', async () => {
    const repo = 'acme/order';
    const t = await seedTask(sql, { repository: repo });
    const early = await endedRun(sql, t, { outcome: 'failed', endedAt: at(1), paths: ['lib/a.py'] });
    // the earlier run's row is not due yet: the later run is reflected first
    await sql`update codex_kb.kb_backlog set next_attempt_at = now() + interval '1 hour' where run_id = ${early}`;
    const late = await endedRun(sql, t, { outcome: 'succeeded', endedAt: at(9), paths: ['lib/a.py'] });
    await reflectBacklog(kbDeps(sql));
    expect(await state(late)).toEqual([{ source: 'facteur', superseded_by_run: null }]);
    await sql`update codex_kb.kb_backlog set next_attempt_at = now() where run_id = ${early}`;
    await reflectBacklog(kbDeps(sql));
    expect(await state(early)).toEqual([{ source: 'facteur', superseded_by_run: late }]);
    expect(await state(late)).toEqual([{ source: 'facteur', superseded_by_run: null }]);
  });

  it('a later failure supersedes an earlier success on the same paths, until a later success supersedes it', async () => {
    const repo = 'acme/flip';
    const t = await seedTask(sql, { repository: repo });
    const ok1 = await endedRun(sql, t, { outcome: 'succeeded', endedAt: at(1), paths: ['a.go'] });
    const bad = await endedRun(sql, t, { outcome: 'failed', endedAt: at(2), paths: ['a.go', 'b.go'] });
    await reflectBacklog(kbDeps(sql));
    expect(await state(ok1)).toEqual([{ source: 'facteur', superseded_by_run: bad }]);
    const ok2 = await endedRun(sql, t, { outcome: 'succeeded', endedAt: at(3), paths: ['b.go'] });
    await reflectBacklog(kbDeps(sql));
    expect(await state(bad)).toEqual([{ source: 'facteur', superseded_by_run: ok2 }]);
    expect(await state(ok2)).toEqual([{ source: 'facteur', superseded_by_run: null }]);
  });
});
