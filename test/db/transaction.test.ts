// transaction(): its advisory locks are held before any of its statements runs, though they are
// sent with the first of them (one round trip, not one per lock): concurrent read-modify-writes
// of one key on real connections lose nothing, keys in any order never deadlock, and a lock
// that cannot be taken fails the transaction with its own error.
import { afterAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { connect, transaction, type Sql } from '../../shared/db/index.js';
import { createTestDb } from '../helpers/db.js';

const db = await createTestDb();
const pool = connect(db.url, { max: 10 });
afterAll(async () => {
  await pool.end({ timeout: 1 });
});

describe('transaction()', () => {
  it('serializes read-modify-writes under its lock: 40 concurrent increments on 10 connections make 40', async () => {
    await db.sql`create table tx_counter (k text primary key, n int not null)`;
    await db.sql`insert into tx_counter values ('a', 0), ('b', 0)`;
    const bump = (key: string, locks: string[]) => transaction(pool, locks, async (tx) => {
      const [row] = await tx<{ n: number }[]>`select n from tx_counter where k = ${key}`;
      await new Promise((r) => setTimeout(r, 2)); // a window for a second writer
      await tx`update tx_counter set n = ${row!.n + 1} where k = ${key}`;
    });
    // two keys each, given in either order: sorted, so no deadlock
    await Promise.all(Array.from({ length: 40 }, (_, i) => bump(i % 2 ? 'a' : 'b', i % 4 < 2 ? ['counter:a', 'counter:b'] : ['counter:b', 'counter:a'])));
    const rows = await db.sql<{ k: string; n: number }[]>`select k, n from tx_counter order by k`;
    expect(rows.map((r) => [r.k, r.n])).toEqual([['a', 20], ['b', 20]]);
  }, 30_000);

  it('fails with the lock\'s own error when its lock cannot be taken, and keeps nothing of the body', async () => {
    await db.sql`create table tx_effects (n int)`;
    const holder = connect(db.url, { max: 1 });
    // sessions that give up on a lock after 100 ms (55P03 lock_not_available)
    const impatient = postgres(db.url, { max: 2, onnotice: () => {}, connection: { lock_timeout: 100 } }) as unknown as Sql;
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const holding = transaction(holder, ['busy:key'], async (tx) => {
        await tx`select 1`; // runs once the lock is held
        locked();
        await held;
      });
      await isLocked;
      const outcome = await transaction(impatient, ['busy:key'], async (tx) => {
        await tx`insert into tx_effects values (1)`;
        return 'ran';
      }).then((v) => v, (err: { code?: string }) => err.code);
      release();
      await holding;
      // the lock's error, not the aborted transaction's (25P02) that the body's statement met
      expect(outcome).toBe('55P03');
      const [n] = await db.sql<{ n: number }[]>`select count(*)::int as n from tx_effects`;
      expect(n!.n).toBe(0);
    } finally {
      await holder.end({ timeout: 1 });
      await impatient.end({ timeout: 1 });
    }
  }, 30_000);
});
