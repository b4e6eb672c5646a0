// postgres.js 3.4.9 as patched by `patches/postgres+3.4.9.patch` (patch-package applies it on
// every `npm ci`). Unpatched, when a transaction's backend went away mid-statement (a
// PostgreSQL restart), the transaction's rollback was written from a deferred immediate to
// the closed socket: an uncaught TypeError that killed the process (porsager/postgres#1154,
// #1208); under the Functions Framework, which catches it, a connection that never wrote
// again — and the dead session's FATAL error failed the next session's first query.
// Found by `npm run chaos` (ideas lost after PostgreSQL restarts).
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
});
