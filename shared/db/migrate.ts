// Forward-only migrations: `migrations/NNNN_name.sql`, applied in order inside ONE
// transaction under an advisory lock, recorded in codex_kb.schema_migrations with a
// checksum. A second instance starting at the same moment waits on the lock, then finds
// everything applied. An applied file whose text changed is an error, never re-run.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql, Tx } from './index.js';

const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;
const LOCK_KEY = 'facteur:migrations';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

export interface MigrationResult {
  readonly applied: readonly number[];
  readonly current: number;
}

/** Finds the project's `migrations/` folder from this file, in the sources or in dist/. */
export function defaultMigrationsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i += 1) {
    const candidate = join(dir, 'migrations');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('could not find the migrations/ folder above ' + fileURLToPath(import.meta.url));
}

export function readMigrations(dir: string): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE.exec(file);
    if (!m) throw new Error(`migration file ${file} must be named NNNN_lower_snake.sql`);
    const text = readFileSync(join(dir, file), 'utf8');
    const version = Number(m[1]);
    if (out.some((x) => x.version === version)) throw new Error(`two migrations numbered ${m[1]}`);
    out.push({ version, name: m[2]!, sql: text, checksum: createHash('sha256').update(text).digest('hex') });
  }
  return out;
}

export async function migrate(sql: Sql, dir: string = defaultMigrationsDir()): Promise<MigrationResult> {
  const migrations = readMigrations(dir);
  const current = migrations.length ? migrations[migrations.length - 1]!.version : 0;
  // Fast path for the usual start (a cold start is on the request path): one read, no
  // transaction, no lock, when everything is already applied and unchanged.
  const applied = await sql<{ version: number; checksum: string }[]>`
    select version, checksum from codex_kb.schema_migrations order by version`.catch(() => undefined);
  if (applied && applied.length === migrations.length && applied.every((a, i) => a.version === migrations[i]!.version && a.checksum === migrations[i]!.checksum)) {
    return { applied: [], current };
  }
  return (await sql.begin(async (t) => {
    const tx = t as Tx;
    await tx`select pg_advisory_xact_lock(hashtextextended(${LOCK_KEY}, 0))`;
    await tx.unsafe(`
      create schema if not exists codex_kb;
      create table if not exists codex_kb.schema_migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`);
    const done = await tx<{ version: number; checksum: string; name: string }[]>`
      select version, checksum, name from codex_kb.schema_migrations order by version`;
    const byVersion = new Map(done.map((r) => [r.version, r]));
    for (const row of done) {
      const file = migrations.find((m) => m.version === row.version);
      if (!file) throw new Error(`database has migration ${row.version} (${row.name}) that this build does not know: is this build older than the database?`);
      if (file.checksum !== row.checksum) {
        throw new Error(`migration ${String(row.version).padStart(4, '0')}_${row.name} was changed after it was applied; add a new migration instead`);
      }
    }
    const applied: number[] = [];
    for (const m of migrations) {
      if (byVersion.has(m.version)) continue;
      await tx.unsafe(m.sql);
      await tx`insert into codex_kb.schema_migrations (version, name, checksum) values (${m.version}, ${m.name}, ${m.checksum})`;
      applied.push(m.version);
    }
    const current = migrations.length ? migrations[migrations.length - 1]!.version : 0;
    return { applied, current };
  })) as MigrationResult;
}
