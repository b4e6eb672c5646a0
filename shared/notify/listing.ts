// What operators see of the notifications: the ledger's deliveries (pending and failed by
// default, with their last error), how many are waiting per notifier, and the scopes held
// now (a rate limit's wait, the pacing). Served by the status API (routes.ts).
import type { Queryable } from '../db/index.js';
import { ValidationError, type Issue } from '../errors/index.js';
import { NOTIFIERS, type Notifier } from './classify.js';

const STATES = ['pending', 'failed', 'sent'] as const;
type State = (typeof STATES)[number];
/** bigint identity: 1 … 2^63-1. */
const SEQ = /^[1-9][0-9]{0,18}$/;

export interface NotificationQuery {
  states: State[];
  notifier?: Notifier;
  limit: number;
  cursor?: string;
}

export interface NotificationItem {
  notifier: string;
  eventId: string;
  eventType: string;
  subject: string;
  ideaId: string | null;
  repository: string | null;
  state: string;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  remoteId: string | null;
  createdAt: string;
  sentAt: string | null;
}

export interface NotificationPage {
  waiting: { notifier: string; pending: number; failed: number }[];
  held: { notifier: string; scope: string; until: string; reason: string | null }[];
  items: NotificationItem[];
  nextCursor: string | null;
}

/** Each known parameter: it sets its part of the query, or says what is wrong with it. */
const FIELDS: Readonly<Record<string, (value: string, out: NotificationQuery) => string | undefined>> = {
  state(v, out) {
    const parts = v.split(',');
    if (parts.length > STATES.length || !parts.every((s) => (STATES as readonly string[]).includes(s))) return `must be one or more of ${STATES.join(', ')}, separated by commas`;
    out.states = [...new Set(parts as State[])];
    return undefined;
  },
  notifier(v, out) {
    if (!(NOTIFIERS as readonly string[]).includes(v)) return `must be one of ${NOTIFIERS.join(', ')}`;
    out.notifier = v as Notifier;
    return undefined;
  },
  limit(v, out) {
    const n = /^[0-9]{1,3}$/.test(v) ? Number(v) : NaN;
    if (!(n >= 1 && n <= 200)) return 'must be an integer from 1 to 200';
    out.limit = n;
    return undefined;
  },
  cursor(v, out) {
    if (decodeCursor(v) === undefined) return 'is not a cursor returned by this API';
    out.cursor = v;
    return undefined;
  },
};

export function parseNotificationQuery(q: URLSearchParams): NotificationQuery {
  const issues: Issue[] = [];
  const out: NotificationQuery = { states: ['pending', 'failed'], limit: 50 };
  for (const key of new Set(q.keys())) {
    const parse = Object.hasOwn(FIELDS, key) ? FIELDS[key] : undefined;
    const problem = !parse
      ? `unknown query parameter; known: ${Object.keys(FIELDS).join(', ')}`
      : q.getAll(key).length > 1 ? 'given more than once' : parse(q.get(key)!, out);
    if (problem) issues.push({ path: key.slice(0, 100), message: problem });
  }
  if (issues.length) throw new ValidationError('invalid query', issues);
  return out;
}

// seq is an identity column: newest first, keyed by seq alone
const encodeCursor = (seq: string) => Buffer.from(`nd|${seq}`, 'utf8').toString('base64url');

function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return undefined;
  const [tag, seq, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  return tag === 'nd' && extra === undefined && seq !== undefined && SEQ.test(seq) && BigInt(seq) < 2n ** 63n ? seq : undefined;
}

type Row = {
  seq: string; notifier: string; event_id: string; event_type: string; subject: string; idea_id: string | null; repository: string | null;
  state: string; attempts: number; next_attempt_at: Date; last_error: string | null; remote_id: string | null; created_at: Date; sent_at: Date | null;
};

export async function listNotifications(sql: Queryable, q: NotificationQuery): Promise<NotificationPage> {
  const after = q.cursor ? decodeCursor(q.cursor) : undefined;
  // `order by d.seq`, the number: a bare `seq` would name the select list's text column
  const [rows, waiting, held] = await Promise.all([
    sql<Row[]>`
      select d.seq::text, d.notifier, d.event_id::text, d.event_type, d.subject, d.idea_id::text, d.repository, d.state, d.attempts,
             d.next_attempt_at, d.last_error, d.remote_id, d.created_at, d.sent_at
        from codex_kb.notify_deliveries d
       where d.state = any(${q.states}::text[])
         and (${q.notifier ?? null}::text is null or d.notifier = ${q.notifier ?? null})
         and (${after ?? null}::bigint is null or d.seq < ${after ?? null}::bigint)
       order by d.seq desc
       limit ${q.limit + 1}`,
    sql<{ notifier: string; pending: number; failed: number }[]>`
      select notifier, count(*) filter (where state = 'pending')::int as pending, count(*) filter (where state = 'failed')::int as failed
        from codex_kb.notify_deliveries where state in ('pending', 'failed') group by notifier order by notifier`,
    sql<{ notifier: string; scope: string; not_before: Date; reason: string | null }[]>`
      select notifier, scope, not_before, reason from codex_kb.notify_scopes
       where not_before > now() order by not_before desc limit 100`,
  ]);
  const more = rows.length > q.limit;
  const page = rows.slice(0, q.limit);
  return {
    waiting,
    held: held.map((h) => ({ notifier: h.notifier, scope: h.scope, until: h.not_before.toISOString(), reason: h.reason })),
    items: page.map((r) => ({
      notifier: r.notifier, eventId: r.event_id, eventType: r.event_type, subject: r.subject, ideaId: r.idea_id, repository: r.repository,
      state: r.state, attempts: r.attempts, nextAttemptAt: r.state === 'pending' ? r.next_attempt_at.toISOString() : null,
      lastError: r.last_error, remoteId: r.remote_id, createdAt: r.created_at.toISOString(), sentAt: r.sent_at?.toISOString() ?? null,
    })),
    nextCursor: more && page.length ? encodeCursor(page[page.length - 1]!.seq) : null,
  };
}
