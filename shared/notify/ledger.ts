// The delivery ledger's moves. A subject (an idea's status comment, the Discord webhook) is
// leased by one instance at a time — claimed in ONE statement with SKIP LOCKED, like a job —
// so two instances never send for the same subject at once; its deliveries are then sent
// outside any transaction, and the ledger is updated after. A scope (a repository, the
// webhook) is paced: nothing is claimed in it before its `not_before`.
import type { Sql } from '../db/index.js';
import type { Notifier } from './classify.js';

/**
 * How long a subject stays leased, counted from the claim and again from each renewal (the
 * sender renews before every request that changes something remote: `holdLease`). It only
 * bounds how long an instance that died holding a subject delays it (120 s held every
 * Discord message after each dispatch crash, chaos seed 20240611); it is not what keeps two
 * instances from sending for one subject — the renewal is.
 */
export function leaseSeconds(requestTimeoutMs: number): number {
  return Math.max(15, Math.ceil((6 * requestTimeoutMs) / 1000));
}

export interface Claimed {
  readonly notifier: Notifier;
  readonly subject: string;
  readonly scope: string;
}

export interface Delivery {
  readonly eventId: string;
  readonly eventType: string;
  readonly subject: string;
  readonly ideaId: string | null;
  readonly repository: string | null;
  readonly data: Record<string, unknown>;
  readonly attempts: number;
}

/** Leases up to `limit` subjects with deliveries due, in scopes not paced or rate limited now. */
export async function claimSubjects(sql: Sql, notifier: Notifier, owner: string, limit: number, leaseS: number): Promise<Claimed[]> {
  return sql<Claimed[]>`
    with due as (
      select d.subject, min(d.next_attempt_at) as due_at from codex_kb.notify_deliveries d
       where d.notifier = ${notifier} and d.state = 'pending' and d.next_attempt_at <= now()
       group by d.subject
    ), free as (
      select s.notifier, s.subject from codex_kb.notify_subjects s join due on due.subject = s.subject
       where s.notifier = ${notifier} and (s.leased_until is null or s.leased_until < now())
         and not exists (select 1 from codex_kb.notify_scopes r
                          where r.notifier = s.notifier and r.scope = s.scope and r.not_before > now())
       order by due.due_at
       limit ${limit}
       for update of s skip locked
    )
    update codex_kb.notify_subjects s set leased_until = now() + make_interval(secs => ${leaseS}), lease_owner = ${owner}
      from free where s.notifier = free.notifier and s.subject = free.subject
    returning s.notifier, s.subject, s.scope`;
}

/** The subject's due deliveries, oldest first; `limit` 1 for notifiers that send one per event. */
export async function dueDeliveries(sql: Sql, notifier: Notifier, subject: string, limit: number): Promise<Delivery[]> {
  const rows = await sql<{ event_id: string; event_type: string; subject: string; idea_id: string | null; repository: string | null; data: Record<string, unknown>; attempts: number }[]>`
    select event_id::text, event_type, subject, idea_id::text, repository, data, attempts from codex_kb.notify_deliveries
     where notifier = ${notifier} and subject = ${subject} and state = 'pending' and next_attempt_at <= now()
     order by seq limit ${limit}`;
  return rows.map((r) => ({ eventId: r.event_id, eventType: r.event_type, subject: r.subject, ideaId: r.idea_id, repository: r.repository, data: r.data, attempts: r.attempts }));
}

/** Delivered: the remote id kept (the comment, the message), never sent again. */
export async function markSent(sql: Sql, notifier: Notifier, eventIds: readonly string[], remoteId: string | null): Promise<void> {
  await sql`
    update codex_kb.notify_deliveries
       set state = 'sent', sent_at = now(), remote_id = ${remoteId}, attempts = attempts + 1, last_error = null
     where notifier = ${notifier} and event_id = any(${eventIds as string[]}::uuid[]) and state = 'pending'`;
}

/** Not delivered this time: tried again after `delayMs`, the error kept for operators. */
export async function markRetry(sql: Sql, notifier: Notifier, eventIds: readonly string[], delayMs: number, error: string): Promise<void> {
  await sql`
    update codex_kb.notify_deliveries
       set attempts = attempts + 1, last_error = ${error.slice(0, 1000)},
           next_attempt_at = now() + make_interval(secs => ${delayMs / 1000})
     where notifier = ${notifier} and event_id = any(${eventIds as string[]}::uuid[]) and state = 'pending'`;
}

/** Cannot be delivered as it stands (refused by the remote side): kept, with why, for operators. */
export async function markFailed(sql: Sql, notifier: Notifier, eventIds: readonly string[], error: string): Promise<void> {
  await sql`
    update codex_kb.notify_deliveries set state = 'failed', attempts = attempts + 1, last_error = ${error.slice(0, 1000)}
     where notifier = ${notifier} and event_id = any(${eventIds as string[]}::uuid[]) and state = 'pending'`;
}

/** Nothing is sent in `scope` for `delayMs` (the pacing after a request, or a rate limit's wait). */
export async function holdScope(sql: Sql, notifier: Notifier, scope: string, delayMs: number, reason: string): Promise<void> {
  await sql`
    insert into codex_kb.notify_scopes (notifier, scope, not_before, reason)
    values (${notifier}, ${scope}, now() + make_interval(secs => ${delayMs / 1000}), ${reason})
    on conflict (notifier, scope) do update
      set not_before = greatest(codex_kb.notify_scopes.not_before, excluded.not_before), reason = excluded.reason`;
}

/** The lease was taken over by another instance (ours had ended): nothing more may be sent. */
export class LeaseLost extends Error {
  constructor(readonly subject: string) {
    super(`the lease on ${subject} was taken over`);
    this.name = 'LeaseLost';
  }
}

/**
 * Renews the lease, in one statement, only while it is still ours — called just before each
 * request that changes something remote, so a sender whose lease ran out under load (a slow
 * database, a slow remote) and was claimed by another instance stops instead of creating a
 * second comment beside the other's (chaos seed 31337: both searched for the marker, found
 * none, and both created). The claim and this update lock the same row, so one of them wins:
 * a renewal first makes the claim skip the subject; a claim first makes the renewal fail.
 */
export async function holdLease(sql: Sql, c: Claimed, owner: string, leaseS: number): Promise<void> {
  const rows = await sql`
    update codex_kb.notify_subjects set leased_until = now() + make_interval(secs => ${leaseS})
     where notifier = ${c.notifier} and subject = ${c.subject} and lease_owner = ${owner}
    returning 1`;
  if (rows.length !== 1) throw new LeaseLost(c.subject);
}

/** Gives the subject back; only the lease's owner can (a lease taken over after expiry is not ours). */
export async function release(sql: Sql, c: Claimed, owner: string): Promise<void> {
  await sql`
    update codex_kb.notify_subjects set leased_until = null, lease_owner = null
     where notifier = ${c.notifier} and subject = ${c.subject} and lease_owner = ${owner}`;
}

/** Milliseconds until the notifier's next pending delivery may be sent (its scope's hold counted; leased subjects are another instance's); undefined when none waits. */
export async function nextDueMs(sql: Sql, notifier: Notifier): Promise<number | undefined> {
  const [row] = await sql<{ ms: number | null }[]>`
    select (extract(epoch from min(greatest(d.next_attempt_at, coalesce(r.not_before, d.next_attempt_at))) - now()) * 1000)::float8 as ms
      from codex_kb.notify_deliveries d
      join codex_kb.notify_subjects s on s.notifier = d.notifier and s.subject = d.subject
      left join codex_kb.notify_scopes r on r.notifier = s.notifier and r.scope = s.scope
     where d.notifier = ${notifier} and d.state = 'pending' and (s.leased_until is null or s.leased_until < now())`;
  return row?.ms === null || row?.ms === undefined ? undefined : Math.max(0, row.ms);
}
