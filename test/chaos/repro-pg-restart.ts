// Standalone reproduction of what `npm run chaos` found on PostgreSQL restarts (not a test):
//   node --import tsx test/chaos/repro-pg-restart.ts
// 20 concurrent transactions on a pool of 5 (shared/db), three fast restarts of the server.
// With postgres.js 3.4.9 the process dies on the first restart with
//   TypeError: Cannot read properties of null (reading 'write') at Immediate.nextWrite
// (porsager/postgres#1154, #1208: a deferred small write runs after the socket closed).
// Under the Functions Framework the exception is caught ("Exception from a finished
// function") and the process goes on with a connection that never writes again: its
// requests hang until the next restart. Prints every transaction slower than 3 s.
import { connect, transaction } from '../../shared/db/index.js';
import { startPostgres } from './infra.js';

const pg = await startPostgres();
const sql = connect(pg.url, { max: 5, connectTimeoutS: 3 });
const t0 = Date.now();
const ts = () => ((Date.now() - t0) / 1000).toFixed(2);
let stop = false;
let n = 0;
const one = async () => {
  const id = ++n;
  const start = Date.now();
  const outcome = await transaction(sql, [`idea:${id % 7}`], async (tx) => {
    await tx`select pg_sleep(0.005)`;
    await tx`select 1`;
  }).then(() => 'ok', (e: { code?: string }) => e.code ?? 'error');
  if (Date.now() - start > 3000) console.log(ts(), `transaction ${id}: ${outcome} after ${Date.now() - start} ms`);
};
const workers = Array.from({ length: 20 }, async () => {
  while (!stop) {
    await one();
    await new Promise((r) => setTimeout(r, 20));
  }
});
for (let i = 0; i < 3; i++) {
  await new Promise((r) => setTimeout(r, 3000));
  console.log(ts(), 'fast stop');
  await pg.stopServer('fast');
  await new Promise((r) => setTimeout(r, 1500));
  await pg.startServer();
  console.log(ts(), 'started');
}
await new Promise((r) => setTimeout(r, 15_000));
console.log(ts(), `done: ${n} transactions`);
stop = true;
await Promise.all(workers);
await sql.end();
pg.stop();
