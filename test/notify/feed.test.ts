// The feed on real concurrent connections: an outbox row whose transaction is still open is
// not read yet, and is not skipped once it commits, even when later transactions committed
// first; a long transaction in another database of the server does not hold the feed back.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../shared/db/index.js';
import { readFeed } from '../../shared/notify/feed.js';
import { createTestDb, extraPool, type TestDb } from '../helpers/db.js';

let db: TestDb;
let other: TestDb;

beforeAll(async () => {
  db = await createTestDb();
  other = await createTestDb();
});

const alert = (sql: Sql, message: string) =>
  sql`insert into codex_kb.outbox (type, source, topic, data) values ('facteur.alert.test', '/test', 'facteur.events', ${sql.json({ message })})`;
const delivered = async () => (await db.sql<{ m: string }[]>`select data->>'message' as m from codex_kb.notify_deliveries where notifier = 'discord' order by seq`).map((r) => r.m);

/** Runs `fn` in a transaction that stays open (holding its transaction id) until `release()`. */
function held(sql: Sql, fn: (tx: Sql) => Promise<unknown>): { ready: Promise<void>; release: () => Promise<void> } {
  let release!: () => void;
  let ready!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const started = new Promise<void>((r) => (ready = r));
  const done = sql.begin(async (tx) => {
    await fn(tx as unknown as Sql);
    ready();
    await gate;
  });
  return { ready: started, release: async () => (release(), await done) as unknown as void };
}

describe('the outbox feed', () => {
  it('waits for an open transaction and then reads its row, even after later ones', async () => {
    await readFeed(db.sql, 'discord'); // the cursor starts here
    const early = held(extraPool(db, 1), (tx) => alert(tx, 'first id, committed last'));
    await early.ready;
    await alert(db.sql, 'second id, committed first');
    await readFeed(db.sql, 'discord');
    // the open transaction is the horizon: nothing at or after it is read yet
    expect(await delivered()).toEqual([]);
    await early.release();
    await readFeed(db.sql, 'discord');
    expect(await delivered()).toEqual(['first id, committed last', 'second id, committed first']);
  });

  it('is not held back by a long transaction in another database', async () => {
    const next = held(extraPool(other, 1), (tx) => tx`select pg_current_xact_id()`);
    await next.ready;
    try {
      await alert(db.sql, 'while another database waits');
      await readFeed(db.sql, 'discord');
      expect(await delivered()).toContain('while another database waits');
    } finally {
      await next.release();
    }
  });

  it('reads each row once however often the feed is read, from one or two connections', async () => {
    for (let i = 0; i < 20; i++) await alert(db.sql, `burst ${i}`);
    const two = extraPool(db, 4);
    await Promise.all([readFeed(db.sql, 'discord'), readFeed(two, 'discord'), readFeed(db.sql, 'discord'), readFeed(two, 'discord')]);
    await db.sql`update codex_kb.notify_cursors set xact_id = '1'::xid8, outbox_id = 0 where notifier = 'discord'`;
    await readFeed(two, 'discord');
    const burst = (await delivered()).filter((m) => m.startsWith('burst '));
    expect(burst).toHaveLength(20);
    expect(new Set(burst).size).toBe(20);
  });
});
