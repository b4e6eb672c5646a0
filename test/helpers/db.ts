// Each test file gets databases of its own, cloned from the migrated template (or empty,
// for tests of the migration runner), dropped again after the file's tests.
import { randomBytes } from 'node:crypto';
import { afterAll, inject } from 'vitest';
import { connect, type Sql } from '../../shared/db/index.js';
import { adminUrl, databaseUrl } from './urls.js';

export interface TestDb {
  readonly url: string;
  readonly name: string;
  readonly sql: Sql;
}

const created: { name: string; pools: Sql[] }[] = [];
let registered = false;

export async function createTestDb(opts: { migrated?: boolean; max?: number } = {}): Promise<TestDb> {
  const admin = adminUrl();
  if (!admin) throw new Error('DATABASE_URL is not set');
  const name = `facteur_t_${randomBytes(6).toString('hex')}`;
  const sql = connect(admin, { max: 1 });
  try {
    if (opts.migrated === false) await sql.unsafe(`create database ${name}`);
    else await sql.unsafe(`create database ${name} template ${inject('templateDatabase')}`);
  } finally {
    await sql.end();
  }
  const url = databaseUrl(admin, name);
  const pool = connect(url, { max: opts.max ?? 10 });
  created.push({ name, pools: [pool] });
  if (!registered) {
    registered = true;
    afterAll(dropAll);
  }
  return { url, name, sql: pool };
}

/** Another pool on the same test database (for "another instance" scenarios). */
export function extraPool(db: TestDb, max = 10): Sql {
  const pool = connect(db.url, { max });
  created.find((c) => c.name === db.name)?.pools.push(pool);
  return pool;
}

async function dropAll(): Promise<void> {
  const admin = adminUrl();
  if (!admin) return;
  const sql = connect(admin, { max: 1 });
  try {
    for (const c of created.splice(0)) {
      await Promise.all(c.pools.map((p) => p.end({ timeout: 1 })));
      await sql.unsafe(`drop database if exists ${c.name} with (force)`);
    }
  } finally {
    await sql.end();
  }
}
