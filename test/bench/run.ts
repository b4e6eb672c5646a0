// Entry of `npm run bench`. Figures are printed as ratios against a baseline measured in
// the same run (these machines are noisy); absolute numbers are for orientation only.
import { randomBytes } from 'node:crypto';
import { connect, migrate } from '../../shared/db/index.js';
import { databaseUrl } from '../helpers/urls.js';
import { benchDispatch } from './dispatch.js';
import { benchColdStart, benchIntake } from './intake.js';
import { benchDashboard } from './dashboard.js';
import { benchKb } from './kb.js';
import { benchScale } from './scale.js';

const admin = process.env.DATABASE_URL;
if (!admin) throw new Error('DATABASE_URL is not set (run through `npm run bench`)');
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const which = process.argv[2] ?? 'all';

const name = `facteur_bench_${randomBytes(4).toString('hex')}`;
const adminSql = connect(admin, { max: 1 });
await adminSql.unsafe(`create database ${name}`);
const url = databaseUrl(admin, name);
try {
  const sql = connect(url, { max: 1 });
  await migrate(sql);
  // BENCH_SETUP_SQL: SQL run on the bench database before measuring (what-if experiments,
  // e.g. dropping an index to see what it costs); never part of the product.
  if (process.env.BENCH_SETUP_SQL) await sql.unsafe(process.env.BENCH_SETUP_SQL);
  await sql.end();
  if (which === 'all' || which === 'intake') {
    console.log(`intake: ${seconds}s per phase, A/B/A/B`);
    await benchIntake(url, seconds);
  }
  if (which === 'coldstart') await benchColdStart(url);
  if (which === 'all' || which === 'dispatch') {
    console.log(`dispatch hop: 200 completions/s for ${Math.max(10, seconds)}s, then a ramp`);
    await benchDispatch(url, Math.max(10, seconds));
  }
  if (which === 'all' || which === 'dashboard') {
    await benchDashboard(url);
  }
  if (which === 'all' || which === 'kb') {
    await benchKb(url);
  }
  if (which === 'all' || which === 'scale') {
    await benchScale(url);
  }
} finally {
  await adminSql.unsafe(`drop database if exists ${name} with (force)`);
  await adminSql.end();
}
