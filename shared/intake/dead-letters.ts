// Nothing is lost on bad input: the raw bytes, the headers and every problem found are
// kept here, and the sender gets a non-retriable answer so a partition is never blocked.
import type { Queryable } from '../db/index.js';
import type { Issue } from '../errors/index.js';
import { printable } from '../validation/index.js';

/** Headers never stored: they carry credentials. */
const SECRET_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization', 'x-facteur-run-token']);

export interface DeadLetter {
  readonly functionName: string;
  readonly topic: string | undefined;
  readonly deliveryKey: string | undefined;
  readonly statusCode: number;
  readonly reasonCode: string;
  readonly reason: string;
  readonly problems: readonly Issue[];
  readonly contentType: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly payload: Buffer;
  readonly payloadSize: number;
  readonly payloadTruncated: boolean;
}

/** What was refused and why, as the function answered it. */
export interface Rejection {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly issues: readonly Issue[];
}

/** The dead letter of a rejected HTTP request: its bytes, headers and the answer given. */
export function deadLetterOf(
  functionName: string,
  req: { readonly headers: Readonly<Record<string, string>>; readonly body: Buffer; readonly bodySize?: number; readonly bodyTruncated?: boolean },
  r: Rejection,
  where: { readonly topic?: string | undefined; readonly deliveryKey?: string | undefined } = {},
): DeadLetter {
  return {
    functionName, topic: where.topic, deliveryKey: where.deliveryKey, statusCode: r.status, reasonCode: r.code, reason: r.message,
    problems: r.issues, contentType: req.headers['content-type'], headers: req.headers, payload: req.body,
    payloadSize: req.bodySize ?? req.body.length, payloadTruncated: req.bodyTruncated ?? false,
  };
}

export function storableHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[printable(k)] = SECRET_HEADERS.has(k) ? '[redacted]' : text(v, 8192)!;
  return out;
}

/**
 * Text fields may echo the hostile input that was rejected (a parser's message quoting a NUL
 * byte, a lone surrogate in a path): stored printable, so keeping the evidence never fails
 * (it used to: SQLSTATE 22P05 → 503 → the sender retried a poison message forever).
 */
function text(s: string | undefined, max: number): string | undefined {
  return s === undefined ? undefined : printable(s).slice(0, max);
}

export async function recordDeadLetter(sql: Queryable, d: DeadLetter): Promise<string> {
  const problems = d.problems.slice(0, 100).map((p) => ({ path: text(p.path, 500)!, message: text(p.message, 2000)! }));
  const [row] = await sql<{ id: string }[]>`
    insert into codex_kb.dead_letters (function_name, topic, delivery_key, status_code, reason_code, reason,
      problems, content_type, headers, payload, payload_size, payload_truncated)
    values (${d.functionName}, ${text(d.topic, 512) ?? null}, ${text(d.deliveryKey, 1024) ?? null}, ${d.statusCode}, ${d.reasonCode},
      ${text(d.reason, 4000)!}, ${sql.json(problems as never)}, ${text(d.contentType, 512) ?? null}, ${sql.json(storableHeaders(d.headers))},
      ${d.payload}, ${d.payloadSize}, ${d.payloadTruncated})
    returning id`;
  return row!.id;
}
