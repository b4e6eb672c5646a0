// The same delivery ×20 at once, over real concurrent connections and HTTP requests, and
// across two "instances" (separate pools, separate servers): exactly one of everything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { encodeCodexTask } from '../../shared/intake/codex-task.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, extraPool, type TestDb } from '../helpers/db.js';
import { ideaSpec, postEvent, serve, type Served } from '../helpers/http.js';

let db: TestDb;
let a: Served;
let b: Served;
const config = loadConfig({});

beforeAll(async () => {
  db = await createTestDb({ max: 20 });
  a = await serve(createIntakeHandler({ sql: db.sql, config, log: silentLogger }));
  b = await serve(createIntakeHandler({ sql: extraPool(db, 20), config, log: silentLogger }));
});
afterAll(async () => {
  await a.close();
  await b.close();
});

async function counts(ideaId: string) {
  const [r] = await db.sql`
    select (select count(*)::int from codex_kb.ideas where id = ${ideaId}) as ideas,
           (select count(*)::int from codex_kb.tasks where idea_id = ${ideaId}) as tasks,
           (select count(*)::int from codex_kb.deliveries where idea_id = ${ideaId}) as deliveries,
           (select count(*)::int from codex_kb.audit_log where idea_id = ${ideaId}) as audit,
           (select count(*)::int from codex_kb.outbox where subject = ${ideaId}::text) as outbox`;
  return r;
}

describe('duplicate storm', () => {
  it('an Idea Spec delivered 20 times concurrently registers once', async () => {
    const body = JSON.stringify(ideaSpec({ id: 'storm-spec' }));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => postEvent(i % 2 ? a.url : b.url, { topic: 'codex.intent', body, id: `partition:${i % 3}/offset:${1000 + i}` })),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, ...Array(18).fill(200), 202].sort());
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    const ids = new Set(results.map((r) => `${r.body.ideaId}/${r.body.taskId}`));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.body.duplicate === true)).toHaveLength(19);
    expect(await counts(results[0]!.body.ideaId)).toEqual({ ideas: 1, tasks: 1, deliveries: 1, audit: 1, outbox: 1 });
  });

  it('a CodexTask delivered 20 times concurrently (protobuf and JSON twins mixed) registers once', async () => {
    const t = {
      stage: 'planning' as const, repository: 'acme/storm', issueNumber: '77', issueTitle: 'Storm', deliveryId: 'gh-storm-1',
      prompt: 'p', base: 'main', head: 'h', issueUrl: '', issueBody: '', sender: 's',
    };
    const { deliveryId, ...json } = t;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 4 === 0
          ? postEvent(a.url, { topic: 'github.codex.tasks', body: JSON.stringify(json), kafkaHeaders: { 'x-github-delivery': deliveryId } })
          : postEvent(i % 2 ? a.url : b.url, { topic: 'github.issues.codex.tasks', contentType: 'application/x-protobuf', body: encodeCodexTask(t) }),
      ),
    );
    expect(results.filter((r) => r.status === 202)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(19);
    expect(new Set(results.map((r) => r.body.ideaId)).size).toBe(1);
    expect(await counts(results[0]!.body.ideaId)).toEqual({ ideas: 1, tasks: 1, deliveries: 1, audit: 1, outbox: 1 });
  });

  it('different deliveries for one issue racing each other make one idea with one task per stage', async () => {
    const mk = (stage: 'planning' | 'implementation', n: number) => ({
      stage, repository: 'acme/race', issueNumber: '5', issueTitle: 'Race', deliveryId: `gh-race-${stage}-${n}`,
      prompt: '', base: 'main', head: '', issueUrl: '', issueBody: '', sender: '',
    });
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        postEvent(i % 2 ? a.url : b.url, { topic: 'github.issues.codex.tasks', contentType: 'application/x-protobuf', body: encodeCodexTask(mk(i % 2 ? 'planning' : 'implementation', i)) }),
      ),
    );
    expect(results.every((r) => r.status === 202)).toBe(true);
    const ideaIds = new Set(results.map((r) => r.body.ideaId));
    expect(ideaIds.size).toBe(1);
    const c = await counts([...ideaIds][0]!);
    expect(c).toMatchObject({ ideas: 1, tasks: 2, deliveries: 16 });
  });
});
