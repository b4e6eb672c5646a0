// The preference pairs as JSONL (`GET /v1/kb/preference-pairs?since=&cursor=&limit=`), the
// dataset the daily fine-tune trigger points at. Keyset-paged by (created_at, id): the
// cursor carries created_at at full microsecond precision (as text, and sent as text: a
// timestamptz parameter would be serialized through a JS Date, to the millisecond), so a
// page boundary between two pairs of the same millisecond neither repeats nor skips one.
import type { Queryable } from '../db/index.js';
import { ValidationError, type Issue } from '../errors/index.js';

export interface PairQuery {
  /** Pairs created strictly after this instant (ISO 8601). */
  readonly since?: string;
  readonly cursor?: { readonly at: string; readonly id: string };
  readonly limit: number;
}

const MAX_LIMIT = 5000;
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function instant(v: string): boolean {
  return ISO.test(v) && Number.isFinite(Date.parse(v)) && Number(v.slice(0, 4)) >= 1970 && Number(v.slice(0, 4)) <= 9999;
}

export function encodePairCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`, 'utf8').toString('base64url');
}

function decodePairCursor(c: string): PairQuery['cursor'] {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(c)) return undefined;
  const [at, id, ...rest] = Buffer.from(c, 'base64url').toString('utf8').split('|');
  return rest.length === 0 && at && id && instant(at) && UUID.test(id) ? { at, id } : undefined;
}

/** The query string, every problem listed (a 400), nothing passed on unchecked. */
export function parsePairQuery(q: URLSearchParams): PairQuery {
  const issues: Issue[] = [];
  const out: { since?: string; cursor?: PairQuery['cursor']; limit: number } = { limit: 1000 };
  for (const key of new Set(q.keys())) {
    if (!['since', 'cursor', 'limit'].includes(key)) issues.push({ path: key, message: 'unknown query parameter' });
    else if (q.getAll(key).length > 1) issues.push({ path: key, message: 'given more than once' });
  }
  const since = q.get('since');
  if (since !== null) {
    if (instant(since)) out.since = since;
    else issues.push({ path: 'since', message: 'must be an ISO 8601 date or instant, e.g. 2026-12-01 or 2026-12-01T08:00:00.000Z' });
  }
  const cursor = q.get('cursor');
  if (cursor !== null) {
    out.cursor = decodePairCursor(cursor);
    if (!out.cursor) issues.push({ path: 'cursor', message: 'is not a cursor returned by this API' });
  }
  const limit = q.get('limit');
  if (limit !== null) {
    if (/^\d{1,5}$/.test(limit) && Number(limit) >= 1 && Number(limit) <= MAX_LIMIT) out.limit = Number(limit);
    else issues.push({ path: 'limit', message: `must be an integer from 1 to ${MAX_LIMIT}` });
  }
  if (issues.length) throw new ValidationError('invalid preference-pair query', issues);
  return out;
}

export interface PairPage {
  /** One JSON object per line, each ending with a newline. */
  readonly jsonl: string;
  readonly count: number;
  readonly nextCursor: string | undefined;
}

export async function exportPairs(sql: Queryable, q: PairQuery): Promise<PairPage> {
  const rows = await sql<{ at: string; id: string; kind: string; idea_id: string; task_id: string; rejected_run_id: string; chosen_run_id: string; context: string; rejected: string; chosen: string; reasons: unknown }[]>`
    select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, id, kind, idea_id, task_id,
           rejected_run_id, chosen_run_id, context, rejected, chosen, reasons
      from codex_kb.preference_pairs
     where (${q.since ?? null}::text::timestamptz is null or created_at > ${q.since ?? null}::text::timestamptz)
       and (${q.cursor?.at ?? null}::text::timestamptz is null or (created_at, id) > (${q.cursor?.at ?? null}::text::timestamptz, ${q.cursor?.id ?? null}::uuid))
     order by created_at, id
     limit ${q.limit + 1}`;
  const page = rows.slice(0, q.limit);
  const jsonl = page.map((r) => `${JSON.stringify({
    id: r.id, kind: r.kind, createdAt: r.at, ideaId: r.idea_id, taskId: r.task_id, rejectedRunId: r.rejected_run_id, chosenRunId: r.chosen_run_id,
    context: r.context, rejected: r.rejected, chosen: r.chosen, reasons: r.reasons,
  })}\n`).join('');
  const last = page[page.length - 1];
  return { jsonl, count: page.length, nextCursor: rows.length > q.limit && last ? encodePairCursor(last.at, last.id) : undefined };
}
