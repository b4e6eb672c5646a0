import { mkdtempSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, defaultMigrationsDir, migrate } from '../../shared/db/index.js';
import { createTestDb } from '../helpers/db.js';

describe('migration runner', () => {
  it('applies every migration once and records it', async () => {
    const db = await createTestDb({ migrated: false });
    const first = await migrate(db.sql);
    expect(first.applied.length).toBeGreaterThanOrEqual(2);
    expect(first.applied).toEqual([...first.applied].sort((a, b) => a - b));
    const again = await migrate(db.sql);
    expect(again.applied).toEqual([]);
    expect(again.current).toBe(first.current);
    const rows = await db.sql`select version from codex_kb.schema_migrations order by version`;
    expect(rows.map((r) => r.version)).toEqual(first.applied);
  });

  it('is safe when several instances start at once (separate connections)', async () => {
    const db = await createTestDb({ migrated: false });
    const pools = Array.from({ length: 4 }, () => connect(db.url, { max: 1 }));
    try {
      const results = await Promise.all(pools.map((p) => migrate(p)));
      const appliedBy = results.filter((r) => r.applied.length > 0);
      expect(appliedBy).toHaveLength(1);
      const [row] = await db.sql`select count(*)::int as n from codex_kb.schema_migrations`;
      expect(row!.n).toBe(appliedBy[0]!.applied.length);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('refuses a migration whose text changed after it was applied', async () => {
    const db = await createTestDb({ migrated: false });
    const dir = mkdtempSync(join(tmpdir(), 'facteur-mig-'));
    cpSync(defaultMigrationsDir(), dir, { recursive: true });
    await migrate(db.sql, dir);
    writeFileSync(join(dir, '0001_core_schema.sql'), '-- edited\n', { flag: 'a' });
    await expect(migrate(db.sql, dir)).rejects.toThrow(/0001_core_schema was changed after it was applied/);
  });

  it('rolls back a failing migration entirely and records nothing', async () => {
    const db = await createTestDb({ migrated: false });
    const dir = mkdtempSync(join(tmpdir(), 'facteur-mig-'));
    cpSync(defaultMigrationsDir(), dir, { recursive: true });
    writeFileSync(join(dir, '9999_broken.sql'), 'create table codex_kb.fine (id int); select no_such_function();');
    await expect(migrate(db.sql, dir)).rejects.toThrow(/no_such_function/);
    const [row] = await db.sql`select to_regclass('codex_kb.ideas') as t`;
    expect(row!.t).toBeNull();
  });

  it('rejects badly named migration files', async () => {
    const db = await createTestDb({ migrated: false });
    const dir = mkdtempSync(join(tmpdir(), 'facteur-mig-'));
    writeFileSync(join(dir, '1_init.sql'), 'select 1');
    await expect(migrate(db.sql, dir)).rejects.toThrow(/must be named NNNN_lower_snake\.sql/);
  });
});
