// Preference pairs from a review loop and a retried task, on real PostgreSQL: the right
// attempts paired with the review's or the failure's reasons, each pair exactly once under
// concurrent passes on separate pools, and the JSONL export over real HTTP (paging, since=,
// every bad parameter a 400).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStatusHandler } from '../../functions/status/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { assemblePairs } from '../../shared/kb/pairs.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, extraPool, type TestDb } from '../helpers/db.js';
import { serve, type Served } from '../helpers/http.js';
import { seedIdea, seedRun, seedTask } from './seed.js';

let db: TestDb;
let status: Served;
const runs: Record<string, string> = {};
const config = loadConfig({});

beforeAll(async () => {
  db = await createTestDb();
  status = await serve(createStatusHandler({ sql: db.sql, config, log: silentLogger }));
  const idea = await seedIdea(db.sql);
  const impl = await seedTask(db.sql, idea, 'client-retry');
  const other = await seedTask(db.sql, idea, 'docs');
  const review1 = await seedTask(db.sql, idea, 'review-1', 'review');
  const review2 = await seedTask(db.sql, idea, 'review-2', 'review');
  // the implementation fails once (retry pair), succeeds, is sent back by review-1, fixed, approved by review-2
  runs.failed = await seedRun(db.sql, idea, impl, 1, 'failed', { error: ['tests_failed', 'npm test failed [signature: TypeError: budget is undefined]'] });
  runs.first = await seedRun(db.sql, idea, impl, 2, 'succeeded', {
    artifacts: { 'diff-stats': { base: 'abc1234', head: 'def5678', added: 10, removed: 2, files: [{ path: 'src/client.ts', added: 10, removed: 2, status: 'modified' }] } },
  });
  runs.docs = await seedRun(db.sql, idea, other, 1, 'succeeded');
  await seedRun(db.sql, idea, review1, 1, 'succeeded', {
    stage: 'review',
    artifacts: { review: { verdict: 'changes_requested', summary: 'the retry loop ignores the budget', comments: [{ path: 'src/client.ts', line: 12, body: 'budget never decremented' }], tasks: ['client-retry'] } },
  });
  runs.fixed = await seedRun(db.sql, idea, impl, 3, 'succeeded', { artifacts: { reflection: { text: 'decrement the budget before each retry' } } });
  await seedRun(db.sql, idea, review2, 1, 'succeeded', { stage: 'review', artifacts: { review: { verdict: 'approved', summary: 'good' } } });
});
afterAll(async () => {
  await status?.close();
});

describe('preference pairs', () => {
  it('pairs the sent-back attempt with the approved fix, and the failed attempt with the next success, once each under concurrent passes', async () => {
    const pools = [db.sql, extraPool(db, 2), extraPool(db, 2), extraPool(db, 2)];
    // four passes inserting the same pairs at once: the others wait and find them taken (on conflict do nothing)
    const made = await Promise.all(pools.map((sql) => assemblePairs({ sql, log: silentLogger })));
    expect(made.reduce((a, b) => a + b, 0)).toBe(2);
    expect(await assemblePairs({ sql: db.sql, log: silentLogger })).toBe(0);
    const pairs = await db.sql<{ kind: string; rejected_run_id: string; chosen_run_id: string; context: string; rejected: string; chosen: string; reasons: any[] }[]>`
      select kind, rejected_run_id, chosen_run_id, context, rejected, chosen, reasons from codex_kb.preference_pairs order by kind`;
    expect(pairs.map((p) => [p.kind, p.rejected_run_id, p.chosen_run_id])).toEqual([
      ['retry', runs.failed, runs.first],
      ['review_loop', runs.first, runs.fixed],
    ]);
    const [retry, loop] = pairs;
    expect(retry!.reasons).toEqual([{ source: 'failure', code: 'tests_failed', message: 'npm test failed [signature: TypeError: budget is undefined]', signature: 'TypeError: budget is undefined' }]);
    expect(loop!.reasons[0]).toMatchObject({ source: 'review', summary: 'the retry loop ignores the budget', comments: [{ path: 'src/client.ts', line: 12, body: 'budget never decremented' }] });
    expect(loop!.context).toContain('task client-retry (implementation): Task client-retry');
    expect(loop!.context).toContain('INTENT: retries never exceed the budget');
    expect(loop!.rejected).toContain('changed 1 file(s) (+10 -2): src/client.ts');
    expect(loop!.chosen).toContain('reflection: decrement the budget before each retry');
    // the docs task was not named by the review: no pair for it
    expect(pairs.some((p) => p.rejected_run_id === runs.docs)).toBe(false);
  });

  it('exports JSONL, keyset-paged, filtered by since, with every bad parameter a 400', async () => {
    const first = await fetch(`${status.url}/v1/kb/preference-pairs?limit=1`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines1 = (await first.text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines1).toHaveLength(1);
    const cursor = first.headers.get('x-next-cursor');
    expect(cursor).toBeTruthy();
    const second = await fetch(`${status.url}/v1/kb/preference-pairs?limit=1&cursor=${cursor}`);
    const lines2 = (await second.text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines2).toHaveLength(1);
    expect(second.headers.get('x-next-cursor')).toBeNull();
    expect(new Set([lines1[0].id, lines2[0].id]).size).toBe(2);
    expect(Object.keys(lines1[0]).sort()).toEqual(['chosen', 'chosenRunId', 'context', 'createdAt', 'id', 'ideaId', 'kind', 'reasons', 'rejected', 'rejectedRunId', 'taskId']);
    const later = await fetch(`${status.url}/v1/kb/preference-pairs?since=${encodeURIComponent(lines2[0].createdAt)}`);
    expect(await later.text()).toBe('');
    const all = await fetch(`${status.url}/v1/kb/preference-pairs?since=2000-01-01`);
    expect((await all.text()).trim().split('\n')).toHaveLength(2);
    const bad = await fetch(`${status.url}/v1/kb/preference-pairs?since=yesterday';drop%20table&limit=0&cursor=%ZZ&x={{y}}`);
    expect(bad.status).toBe(400);
    const body = await bad.json();
    expect(body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['cursor', 'limit', 'since', 'x']);
  });
});
