// A pass killed between its claim and its commit loses nothing and duplicates nothing: a
// child process reflects a batch and is SIGKILLed while its transaction is open (its
// reflections written, not committed); the server ends the dead session, and the next pass
// reflects every run exactly once.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../shared/db/index.js';
import { reflectBacklog } from '../../shared/kb/reflect.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { until } from '../local/proc.js';
import { endedRun, kbDeps, seedTask } from './seed.js';

let db: TestDb;
let sql: Sql;
beforeAll(async () => {
  db = await createTestDb();
  sql = db.sql;
});
afterAll(async () => {
  await sql.unsafe('drop trigger if exists kb_test_hold on codex_kb.kb_backlog').catch(() => undefined);
});

describe('a pass killed mid-way', () => {
  it('SIGKILL between claim and commit: nothing lost, nothing twice', async () => {
    const runs: string[] = [];
    for (let i = 0; i < 6; i++) {
      const t = await seedTask(sql);
      runs.push(await endedRun(sql, t, { outcome: 'failed', artifacts: [{ type: 'reflection', data: { lesson: `lesson ${i}` } }] }));
    }
    // a negative control in this test's database: the backlog's delete (the last write before
    // the commit) sleeps, holding the child's transaction open with its reflections written
    await sql.unsafe(`create or replace function public.kb_test_hold() returns trigger language plpgsql as $$ begin perform pg_sleep(60); return old; end $$`);
    await sql.unsafe('create trigger kb_test_hold before delete on codex_kb.kb_backlog for each row execute function public.kb_test_hold()');
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/kb/fixtures/reflect-child.ts', db.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    await until('the child to hold its transaction', async () => {
      const rows = await sql`select 1 from pg_stat_activity where datname = ${db.name} and state = 'active' and query like '%delete from codex_kb.kb_backlog%' and pid <> pg_backend_pid()`;
      return rows.length > 0;
    }, 20_000);
    // uncommitted: nobody else sees the child's reflections
    expect(await sql`select 1 from codex_kb.reflections where run_id = any(${runs}::uuid[])`).toHaveLength(0);
    child.kill('SIGKILL');
    await exited;
    expect(out).not.toContain('done');
    // the server ends the dead client's session (it would notice at its next read; the test does not wait for the sleep)
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${db.name} and pid <> pg_backend_pid() and query like '%kb_backlog%'`;
    await sql.unsafe('drop trigger kb_test_hold on codex_kb.kb_backlog');
    await until('the rows to be free', async () => (await sql`select 1 from pg_stat_activity where datname = ${db.name} and query like '%pg_sleep%' and pid <> pg_backend_pid()`).length === 0, 20_000);
    expect(await sql`select 1 from codex_kb.kb_backlog where run_id = any(${runs}::uuid[])`).toHaveLength(6);

    expect(await reflectBacklog(kbDeps(sql))).toBe(6);
    const per = await sql<{ n: number }[]>`select count(*)::int as n from codex_kb.reflections where run_id = any(${runs}::uuid[]) group by run_id`;
    expect(per.map((p) => p.n)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(await sql`select 1 from codex_kb.kb_backlog`).toHaveLength(0);
  }, 60_000);
});
