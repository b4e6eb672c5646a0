import { describe, expect, it } from 'vitest';
import { appendAudit, sealAudit, verifyAudit } from '../../shared/audit/index.js';
import { connect, PgCode } from '../../shared/db/index.js';
import { createTestDb } from '../helpers/db.js';

const entry = (i: number) => ({ actor: 'test', action: 'thing.done', subjectType: 'thing', subjectId: String(i), details: { i } });

describe('audit log', () => {
  it('refuses UPDATE, DELETE and TRUNCATE, for entries and seals', async () => {
    const { sql } = await createTestDb();
    await appendAudit(sql, entry(1));
    await sealAudit(sql);
    for (const stmt of [
      `update codex_kb.audit_log set actor = 'mallory'`,
      `delete from codex_kb.audit_log`,
      `truncate codex_kb.audit_log`,
      `update codex_kb.audit_seals set entry_count = 0`,
      `delete from codex_kb.audit_seals`,
    ]) {
      await expect(sql.unsafe(stmt)).rejects.toMatchObject({ code: PgCode.INSUFFICIENT_PRIVILEGE });
    }
    expect((await verifyAudit(sql)).ok).toBe(true);
  });

  it('computes each entry hash itself; a writer cannot supply one', async () => {
    const { sql } = await createTestDb();
    await sql`insert into codex_kb.audit_log (actor, action, subject_type, subject_id, row_hash) values ('a', 'b', 'c', 'd', '\\xdeadbeef')`;
    const v = await verifyAudit(sql);
    expect(v.ok).toBe(true);
  });

  it('seals in batches and verifies the chain', async () => {
    const { sql } = await createTestDb();
    for (let i = 0; i < 5; i++) await appendAudit(sql, entry(i));
    const s1 = await sealAudit(sql);
    expect(s1?.entryCount).toBe(5);
    expect(await sealAudit(sql)).toBeUndefined();
    for (let i = 5; i < 8; i++) await appendAudit(sql, entry(i));
    expect((await sealAudit(sql))?.entryCount).toBe(3);
    const v = await verifyAudit(sql);
    expect(v).toMatchObject({ ok: true, entries: 8, sealedEntries: 8, seals: 2, problems: [] });
  });

  it('never seals past a transaction still in flight, so a late commit lands in a later seal', async () => {
    const db = await createTestDb();
    const other = connect(db.url, { max: 1 });
    try {
      await appendAudit(db.sql, entry(1));
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let inserted!: () => void;
      const didInsert = new Promise<void>((r) => (inserted = r));
      const slow = other.begin(async (tx) => {
        await appendAudit(tx as never, entry(2));
        inserted();
        await held;
      });
      await didInsert;
      await appendAudit(db.sql, entry(3)); // committed, but after the open transaction began
      const first = await sealAudit(db.sql);
      expect(first?.entryCount).toBe(1); // only entry 1: entry 3's xid is above the horizon
      release();
      await slow;
      const second = await sealAudit(db.sql);
      expect(second?.entryCount).toBe(2);
      expect(await verifyAudit(db.sql)).toMatchObject({ ok: true, entries: 3, sealedEntries: 3 });
    } finally {
      await other.end();
    }
  });

  it('inserts do not wait on each other or on the sealer (no global lock on the write path)', async () => {
    const db = await createTestDb();
    const a = connect(db.url, { max: 1 });
    try {
      // One transaction holds an uncommitted entry AND the sealer's lock…
      await db.sql.begin(async (tx) => {
        await appendAudit(tx as never, entry(1));
        await tx`select codex_kb.audit_seal()`;
        // …while another connection appends, with a timeout that would fire if it waited.
        await a.begin(async (t2) => {
          await t2`set local lock_timeout = '500ms'`;
          await t2`set local statement_timeout = '1s'`;
          await appendAudit(t2 as never, entry(2));
        });
      });
    } finally {
      await a.end();
    }
    expect((await verifyAudit(db.sql)).entries).toBe(2);
  });

  it('detects an entry altered in place, even by a superuser who disabled the guard', async () => {
    const { sql } = await createTestDb();
    for (let i = 0; i < 3; i++) await appendAudit(sql, entry(i));
    await sealAudit(sql);
    await sql.unsafe(`alter table codex_kb.audit_log disable trigger audit_log_append_only`);
    await sql.unsafe(`update codex_kb.audit_log set actor = 'mallory' where subject_id = '1'`);
    const v = await verifyAudit(sql);
    expect(v.ok).toBe(false);
    expect(v.problems.some((p) => /content does not match its hash/.test(p))).toBe(true);
  });

  it('detects an entry deleted from a sealed range', async () => {
    const { sql } = await createTestDb();
    for (let i = 0; i < 3; i++) await appendAudit(sql, entry(i));
    await sealAudit(sql);
    await sql.unsafe(`alter table codex_kb.audit_log disable trigger audit_log_append_only`);
    await sql.unsafe(`delete from codex_kb.audit_log where subject_id = '1'`);
    const v = await verifyAudit(sql);
    expect(v.problems).toEqual([expect.stringMatching(/covers 3 entries but 2 are there/)]);
  });

  it('detects a seal removed from the middle of the chain', async () => {
    const { sql } = await createTestDb();
    for (let round = 0; round < 3; round++) {
      await appendAudit(sql, entry(round));
      await sealAudit(sql);
    }
    await sql.unsafe(`alter table codex_kb.audit_seals disable trigger audit_seals_append_only`);
    await sql.unsafe(`delete from codex_kb.audit_seals where id = (select min(id) + 1 from codex_kb.audit_seals)`);
    const v = await verifyAudit(sql);
    expect(v.ok).toBe(false);
    expect(v.problems.join('\n')).toMatch(/a seal is missing/);
  });
});
