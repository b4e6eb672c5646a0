// A pool must come back quickly after a database restart. postgres.js's default reconnect
// backoff grows to 20 s with a failure count shared by the whole pool and reset only by a
// successful connect, so a short restart under load left every instance stalled long after
// the database was back (found by `npm run chaos`). The pool now waits at most 1 s.
import { afterAll, describe, expect, it } from 'vitest';
import { connect, reconnectDelayS } from '../../shared/db/index.js';
import { startPostgres, type ControlledPostgres } from '../chaos/infra.js';

let pg: ControlledPostgres | undefined;
afterAll(() => pg?.stop());

describe('reconnecting after a database restart', () => {
  it('never waits more than a second between connect attempts', () => {
    for (let failures = 0; failures <= 50; failures++) expect(reconnectDelayS(failures)).toBeLessThanOrEqual(1);
    expect(reconnectDelayS(1)).toBeLessThanOrEqual(0.1);
  });

  it('answers within a couple of seconds of the server being back, however many connects failed meanwhile', async () => {
    pg = await startPostgres(); // its own server: this test stops it
    const sql = connect(pg.url, { max: 2, connectTimeoutS: 2 });
    try {
      await sql`select 1`;
      await pg.stopServer('fast');
      // the outage, under load: requests keep coming, every query fails, and each failed
      // connect counts against the whole pool
      let failed = 0;
      const inflight: Promise<unknown>[] = [];
      for (let i = 0; i < 30; i++) {
        inflight.push(sql`select 1`.catch(() => failed++));
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(failed).toBeGreaterThan(3);
      await pg.startServer();
      const back = Date.now();
      await sql`select 1`;
      expect(Date.now() - back).toBeLessThan(2500);
      await Promise.all(inflight);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }, 60_000);
});
