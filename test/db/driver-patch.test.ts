// postgres.js 3.4.9 as patched by `patches/postgres+3.4.9.patch` (patch-package applies it on
// every `npm ci`). Unpatched, when a transaction's backend went away mid-statement (a
// PostgreSQL restart), the transaction's rollback was written from a deferred immediate to
// the closed socket: an uncaught TypeError that killed the process (porsager/postgres#1154,
// #1208); under the Functions Framework, which catches it, a connection that never wrote
// again — and the dead session's FATAL error failed the next session's first query.
// Found by `npm run chaos` (ideas lost after PostgreSQL restarts).
//
// And a transaction's BEGIN that filled a connection's pipeline (or met backpressure) did not
// reserve the connection (porsager/postgres#823, #1189): the begin failed with
// UNSAFE_TRANSACTION while the server stayed in the transaction, and the connection went back
// to the pool, where other callers' statements ran inside a transaction nobody would commit.
// Found by `npm run bench -- dispatch` (the KB retrieval's transaction, under load).
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, pgCode } from '../../shared/db/index.js';
import { createTestDb } from '../helpers/db.js';

const db = await createTestDb();
const pools: ReturnType<typeof connect>[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
});

function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} not settled after ${ms} ms`)), ms))]);
}

describe('the patched PostgreSQL driver', () => {
  it('settles a transaction whose backend is terminated mid-statement, and the pool goes on at once', async () => {
    const sql = connect(db.url, { max: 1 });
    pools.push(sql);
    for (let round = 0; round < 3; round++) {
      const outcome = await within(
        5000,
        sql.begin(async (tx) => {
          const [me] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
          setTimeout(() => db.sql`select pg_terminate_backend(${me!.pid})`.then(() => {}), 50);
          await tx`select pg_sleep(3)`;
          return 'committed';
        }),
        'the transaction',
      ).then((v) => v, (err: unknown) => pgCode(err) ?? String(err));
      expect(['CONNECTION_CLOSED', '57P01']).toContain(outcome);
      // the next statements run on a new session: none fails with the old one's error
      for (let i = 0; i < 3; i++) {
        const [row] = await within(2000, sql<{ ok: number }[]>`select 1 as ok`.execute(), 'the next statement');
        expect(row!.ok).toBe(1);
      }
    }
  }, 30_000);

  it('reserves the connection of a BEGIN that fills its pipeline: every transaction runs, every autocommit statement is committed', async () => {
    await db.sql`create table pipeline_probe (id serial primary key, who text not null)`;
    // a pipeline of two makes the boundary frequent; the default (100) reaches it under load
    const sql = postgres(db.url, { max: 3, max_pipeline: 2, onnotice: () => {}, connection: { application_name: 'pipeline-probe' } } as postgres.Options<{}>);
    pools.push(sql as never);
    const failures: string[] = [];
    let expected = 0;
    for (let round = 0; round < 20; round++) {
      // every connection busy, so what follows is pipelined behind the sleeps
      const sleeps = [0, 1, 2].map(() => sql`select pg_sleep(0.05)`.execute());
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 6; i++) {
        work.push(sql`insert into pipeline_probe (who) values (${`plain-${round}-${i}`})`.execute());
        if (i < 5) work.push(sql.begin(async (tx) => { await tx`insert into pipeline_probe (who) values (${`tx-${round}-${i}`})`; }));
      }
      expected += 11;
      for (const r of await Promise.allSettled([...sleeps, ...work])) if (r.status === 'rejected') failures.push(String((r.reason as Error).message ?? r.reason));
      // seen from another pool at once: nothing was left inside a transaction nobody commits
      const [seen] = await db.sql<{ n: number }[]>`select count(*)::int as n from pipeline_probe`;
      expect({ round, rows: seen!.n }).toEqual({ round, rows: expected });
    }
    expect(failures).toEqual([]);
    const [open] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity where application_name = 'pipeline-probe' and state like 'idle in transaction%'`;
    expect(open!.n).toBe(0);
  }, 30_000);
});
