// Read model of codex_kb.dead_letters (written by shared/intake/dead-letters.ts): what was
// refused, why, and the bytes as they arrived, so an operator can see what a sender got
// wrong. Headers were redacted when the letter was stored; the payload is given as base64
// (and as text too when it is UTF-8 text), because refused input is often not text at all.
import type { Queryable } from '../db/index.js';
import { ValidationError, type Issue } from '../errors/index.js';

export interface DeadLetterQuery {
  function?: string;
  reason?: string;
  cursor?: string;
  limit: number;
}

export interface DeadLetterPayload {
  /** The stored bytes (or, in a listing, their first PREVIEW_BYTES), base64. */
  base64: string;
  /** The same bytes as text, only when they are valid UTF-8 text. */
  utf8?: string;
  /** Size of the payload as it was received, in bytes. */
  size: number;
  /** The bytes here are not the whole payload: an oversized body keeps a prefix only, a listing previews. */
  truncated: boolean;
}

export interface DeadLetterItem {
  id: string;
  receivedAt: string;
  function: string;
  topic: string | null;
  deliveryKey: string | null;
  status: number;
  reasonCode: string;
  reason: string;
  problems: unknown;
  contentType: string | null;
  headers: Record<string, string>;
  payload: DeadLetterPayload;
}

export interface DeadLetterPage {
  items: DeadLetterItem[];
  nextCursor: string | null;
}

/** A listing carries a preview of each payload; GET /v1/dead-letters/{id} has all of it. */
export const PREVIEW_BYTES = 4096;

const PARAMS = ['function', 'reason', 'limit', 'cursor'];
const FUNCTION_NAME = /^[a-z][a-z0-9-]{0,39}$/;
const REASON_CODE = /^[a-z][a-z0-9_.-]{0,99}$/;
/** bigint identity: 1 … 2^63-1. */
const ID = /^[1-9][0-9]{0,18}$/;
const MAX_ID = 2n ** 63n - 1n;

export function isDeadLetterId(s: string): boolean {
  return ID.test(s) && BigInt(s) <= MAX_ID;
}

export function parseDeadLetterQuery(q: URLSearchParams): DeadLetterQuery {
  const issues: Issue[] = [];
  const out: DeadLetterQuery = { limit: 50 };
  for (const key of new Set(q.keys())) {
    if (!PARAMS.includes(key)) issues.push({ path: key.slice(0, 100), message: `unknown query parameter; known: ${PARAMS.join(', ')}` });
    else if (q.getAll(key).length > 1) issues.push({ path: key, message: 'given more than once' });
  }
  const fn = q.get('function');
  if (fn !== null) {
    if (FUNCTION_NAME.test(fn)) out.function = fn;
    else issues.push({ path: 'function', message: 'must be a function name like intake or callbacks' });
  }
  const reason = q.get('reason');
  if (reason !== null) {
    if (REASON_CODE.test(reason)) out.reason = reason;
    else issues.push({ path: 'reason', message: 'must be a reason code like malformed_json' });
  }
  const limit = q.get('limit');
  if (limit !== null) {
    const n = /^[0-9]{1,3}$/.test(limit) ? Number(limit) : NaN;
    if (n >= 1 && n <= 200) out.limit = n;
    else issues.push({ path: 'limit', message: 'must be an integer from 1 to 200' });
  }
  const cursor = q.get('cursor');
  if (cursor !== null) {
    if (decodeCursor(cursor) !== undefined) out.cursor = cursor;
    else issues.push({ path: 'cursor', message: 'is not a cursor returned by this API' });
  }
  if (issues.length) throw new ValidationError('invalid query', issues);
  return out;
}

// Ids are an identity column, so id order is arrival order: the keyset is the id alone.
function encodeCursor(id: string): string {
  return Buffer.from(`dl|${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return undefined;
  const [tag, id, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  return tag === 'dl' && extra === undefined && id !== undefined && isDeadLetterId(id) ? id : undefined;
}

type Row = {
  id: string; received_at: Date; function_name: string; topic: string | null; delivery_key: string | null;
  status_code: number; reason_code: string; reason: string; problems: unknown; content_type: string | null;
  headers: Record<string, string>; payload: Buffer | null; payload_size: number;
};

export async function listDeadLetters(sql: Queryable, q: DeadLetterQuery): Promise<DeadLetterPage> {
  const after = q.cursor ? decodeCursor(q.cursor) : undefined;
  const rows = await sql<Row[]>`
    select id::text, received_at, function_name, topic, delivery_key, status_code, reason_code, reason, problems,
           content_type, headers, substring(payload from 1 for ${PREVIEW_BYTES}) as payload, payload_size
      from codex_kb.dead_letters
     where (${q.function ?? null}::text is null or function_name = ${q.function ?? null})
       and (${q.reason ?? null}::text is null or reason_code = ${q.reason ?? null})
       and (${after ?? null}::bigint is null or id < ${after ?? null}::bigint)
     order by dead_letters.id desc
     limit ${q.limit + 1}`;
  const more = rows.length > q.limit;
  const page = rows.slice(0, q.limit);
  return { items: page.map(item), nextCursor: more && page.length ? encodeCursor(page[page.length - 1]!.id) : null };
}

export async function getDeadLetter(sql: Queryable, id: string): Promise<DeadLetterItem | undefined> {
  if (!isDeadLetterId(id)) return undefined;
  const [row] = await sql<Row[]>`
    select id::text, received_at, function_name, topic, delivery_key, status_code, reason_code, reason, problems,
           content_type, headers, payload, payload_size
      from codex_kb.dead_letters where id = ${id}::bigint`;
  return row ? item(row) : undefined;
}

function item(r: Row): DeadLetterItem {
  const bytes = r.payload ?? Buffer.alloc(0);
  return {
    id: r.id,
    receivedAt: r.received_at.toISOString(),
    function: r.function_name,
    topic: r.topic,
    deliveryKey: r.delivery_key,
    status: r.status_code,
    reasonCode: r.reason_code,
    reason: r.reason,
    problems: r.problems,
    contentType: r.content_type,
    headers: r.headers,
    payload: payloadOf(bytes, r.payload_size, bytes.length < r.payload_size),
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** C0 controls other than tab, newline and carriage return: bytes like these are not text. */
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

export function payloadOf(bytes: Buffer, size: number, truncated: boolean): DeadLetterPayload {
  const out: DeadLetterPayload = { base64: bytes.toString('base64'), size, truncated };
  const text = asText(bytes, truncated);
  if (text !== undefined) out.utf8 = text;
  return out;
}

function asText(bytes: Buffer, mayEndMidCharacter: boolean): string | undefined {
  // a prefix may end inside a multi-byte character: drop at most its first 3 bytes
  for (let drop = 0; drop <= (mayEndMidCharacter ? 3 : 0) && drop <= bytes.length; drop++) {
    try {
      const text = utf8.decode(bytes.subarray(0, bytes.length - drop));
      return CONTROL.test(text) ? undefined : text;
    } catch {
      // not UTF-8 (yet): try a shorter prefix
    }
  }
  return undefined;
}
