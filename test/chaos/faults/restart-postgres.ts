// Restart PostgreSQL: fast stop (sessions terminated, committed data kept), a pause, start
// on the same port. Every instance loses its connections at once.
import { sleep } from '../net.js';
import type { ScheduledFault } from './index.js';

let lastEnd = 0;

export const restartPostgres: ScheduledFault = {
  name: 'restart_postgres',
  weight: 1,
  exclusive: true,
  async inject(ctx, rng) {
    // the whole system waits for the database: let it make progress in between
    if (Date.now() - lastEnd < Math.max(4000, 8 * ctx.meanIntervalMs)) return;
    ctx.history.fault('restart_postgres');
    const w = ctx.history.open('postgres', 'restart');
    try {
      await ctx.postgres.stopServer('fast');
      await sleep(rng.int(200, 2000));
    } finally {
      await ctx.postgres.startServer();
      w.end = Date.now();
      lastEnd = w.end;
    }
  },
};
