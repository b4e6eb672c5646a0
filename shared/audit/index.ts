// The append-only audit log (migration 0002): writing entries, sealing them into the
// hash chain of seals, and verifying that nothing was changed, removed or slipped in.
import type { Queryable } from '../db/index.js';

export interface AuditEntry {
  readonly actor: string;
  readonly action: string;
  readonly subjectType: string;
  readonly subjectId: string;
  readonly ideaId?: string | null;
  readonly details?: Record<string, unknown>;
  readonly traceId?: string | null;
}

export async function appendAudit(sql: Queryable, e: AuditEntry): Promise<void> {
  await auditInsert(sql, e);
}

/** The INSERT of one entry, to run alone or as the last step of a larger statement. */
export function auditInsert(sql: Queryable, e: AuditEntry) {
  return sql`
    insert into codex_kb.audit_log (actor, action, subject_type, subject_id, idea_id, details, trace_id)
    values (${e.actor}, ${e.action}, ${e.subjectType}, ${e.subjectId}, ${e.ideaId ?? null},
            ${sql.json((e.details ?? {}) as never)}, ${e.traceId ?? null})`;
}

export interface Seal {
  readonly id: string;
  readonly entryCount: number;
  readonly sealHash: string;
}

/** Seals every entry that can no longer change; undefined when there was nothing new. */
export async function sealAudit(sql: Queryable): Promise<Seal | undefined> {
  const [row] = await sql<{ id: string; entry_count: number; seal_hash: Buffer }[]>`
    select id, entry_count, seal_hash from codex_kb.audit_seal()`;
  return row ? { id: row.id, entryCount: row.entry_count, sealHash: row.seal_hash.toString('hex') } : undefined;
}

export interface Verification {
  readonly ok: boolean;
  readonly entries: number;
  readonly sealedEntries: number;
  readonly seals: number;
  readonly headSealHash: string | null;
  readonly problems: readonly string[];
}

/**
 * Recomputes every entry's hash, every seal's coverage and the seals' chain. Detects an
 * entry altered in place, an entry deleted from or inserted into a sealed range, and a
 * seal altered or removed from the middle of the chain.
 */
export async function verifyAudit(sql: Queryable): Promise<Verification> {
  const problems: string[] = [];
  const altered = await sql<{ id: string }[]>`
    select id from codex_kb.audit_log e where e.row_hash <> codex_kb.audit_row_hash(e) order by id limit 100`;
  for (const r of altered) problems.push(`entry ${r.id}: content does not match its hash (altered)`);
  const seals = await sql<{
    id: string; prev_horizon: string; horizon: string; entry_count: number; entries_hash: Buffer;
    prev_seal_hash: Buffer; seal_hash: Buffer; n: number; h: Buffer; recomputed: Buffer;
  }[]>`
    select s.id, s.prev_horizon::text, s.horizon::text, s.entry_count, s.entries_hash, s.prev_seal_hash, s.seal_hash,
           c.n, c.h, codex_kb.audit_seal_hash(s.prev_seal_hash, s.prev_horizon, s.horizon, s.entry_count, s.entries_hash) as recomputed
      from codex_kb.audit_seals s
      cross join lateral codex_kb.audit_entries_hash(s.prev_horizon, s.horizon) c
     order by s.id`;
  let prevHorizon = '1';
  let prevHash: Buffer = Buffer.alloc(0);
  let sealedEntries = 0;
  for (const s of seals) {
    if (s.prev_horizon !== prevHorizon) problems.push(`seal ${s.id}: starts at ${s.prev_horizon}, the previous seal ended at ${prevHorizon} (a seal is missing)`);
    if (!s.prev_seal_hash.equals(prevHash)) problems.push(`seal ${s.id}: does not chain to the previous seal`);
    if (!s.recomputed.equals(s.seal_hash)) problems.push(`seal ${s.id}: seal hash does not match its fields (altered)`);
    if (s.n !== s.entry_count) problems.push(`seal ${s.id}: covers ${s.entry_count} entries but ${s.n} are there (deleted or inserted)`);
    else if (!s.h.equals(s.entries_hash)) problems.push(`seal ${s.id}: entries under it changed`);
    sealedEntries += s.n;
    prevHorizon = s.horizon;
    prevHash = s.seal_hash;
  }
  const [count] = await sql<{ n: number }[]>`select count(*)::int as n from codex_kb.audit_log`;
  const n = count?.n ?? 0;
  const last = seals[seals.length - 1];
  return {
    ok: problems.length === 0,
    entries: n,
    sealedEntries,
    seals: seals.length,
    headSealHash: last ? last.seal_hash.toString('hex') : null,
    problems,
  };
}
