// Baseline for the intake benchmark: the thinnest useful CloudEvent function on the same
// framework and driver, one INSERT … ON CONFLICT DO NOTHING per event.
import { cloudEvent } from '@google-cloud/functions-framework';
import postgres from 'postgres';

const sql = postgres(process.env.DATABASE_URL, { max: Number(process.env.DATABASE_POOL_SIZE ?? 10), onnotice: () => {} });
await sql`create table if not exists bench_baseline (id text primary key, received_at timestamptz not null default now())`;

cloudEvent('baseline', async (event) => {
  await sql`insert into bench_baseline (id) values (${event.id}) on conflict do nothing`;
});
