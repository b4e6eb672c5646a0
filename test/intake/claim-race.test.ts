// A redelivery arriving while the scheduler claims the same idea's task: the registration
// statement locks the idea row, then the task row; the claim locks the task row, then
// updates the idea. Two real connections, arranged so the server finds the deadlock and
// aborts the registration; intake must run it again and answer the duplicate, not a 500
// (seen on CI in local mode: `npm start` ticks right after the first registration).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, extraPool, type TestDb } from '../helpers/db.js';
import { ideaSpec, postEvent, serve, type Served } from '../helpers/http.js';

let db: TestDb;
let intake: Served;

beforeAll(async () => {
  db = await createTestDb();
  intake = await serve(createIntakeHandler({ sql: db.sql, config: loadConfig({}), log: silentLogger }));
});
afterAll(async () => {
  await intake.close();
});

async function deadlocks(): Promise<number> {
  const [r] = await db.sql<{ n: number }[]>`select deadlocks::int as n from pg_stat_database where datname = current_database()`;
  return r!.n;
}

describe('a redelivery racing the claim of its task', () => {
  it('is answered as the duplicate it is after the server breaks the deadlock', async () => {
    const body = JSON.stringify(ideaSpec({ id: 'claim-race' }));
    const first = await postEvent(intake.url, { topic: 'codex.intent', body });
    expect(first.status).toBe(202);
    const { ideaId, taskId } = first.body as { ideaId: string; taskId: string };
    const before = await deadlocks();

    const claimer = extraPool(db, 1);
    let redelivered: Promise<{ status: number; body: unknown }> | undefined;
    await claimer.begin(async (tx) => {
      // the claim's side waits long before checking, so the registration is the one aborted
      await tx`set local deadlock_timeout = '20s'`;
      await tx`update codex_kb.tasks set updated_at = now() where id = ${taskId}`;
      redelivered = postEvent(intake.url, { topic: 'codex.intent', body, id: 'redelivery-1' });
      // wait until the registration holds the idea row and waits for the task row
      for (let i = 0; ; i++) {
        const [w] = await db.sql<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity
           where datname = current_database() and wait_event_type = 'Lock' and query like '%insert into codex_kb.ideas%'`;
        if (w!.n > 0) break;
        if (i > 200) throw new Error('the registration never waited for the task row');
        await new Promise((r) => setTimeout(r, 10));
      }
      await tx`update codex_kb.ideas set updated_at = now() where id = ${ideaId}`;
    });
    const again = await redelivered!;
    expect(await deadlocks()).toBe(before + 1);
    expect(again).toEqual({ status: 200, body: { ...(first.body as object), duplicate: true } });
    const [c] = await db.sql`
      select (select count(*)::int from codex_kb.deliveries where idea_id = ${ideaId}) as deliveries,
             (select count(*)::int from codex_kb.outbox where subject = ${ideaId}::text) as outbox,
             (select count(*)::int from codex_kb.audit_log where idea_id = ${ideaId}) as audit`;
    expect(c).toEqual({ deliveries: 1, outbox: 1, audit: 1 });
  }, 30_000);
});
