// Nothing is lost on bad input: the raw bytes, the headers and every problem found are
// kept here, and the sender gets a non-retriable answer so a partition is never blocked.
import type { Queryable } from '../db/index.js';
import type { Issue } from '../errors/index.js';

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

export function storableHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = SECRET_HEADERS.has(k) ? '[redacted]' : v;
  return out;
}

export async function recordDeadLetter(sql: Queryable, d: DeadLetter): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into codex_kb.dead_letters (function_name, topic, delivery_key, status_code, reason_code, reason,
      problems, content_type, headers, payload, payload_size, payload_truncated)
    values (${d.functionName}, ${d.topic ?? null}, ${d.deliveryKey ?? null}, ${d.statusCode}, ${d.reasonCode},
      ${d.reason}, ${sql.json(d.problems as never)}, ${d.contentType ?? null}, ${sql.json(storableHeaders(d.headers))},
      ${d.payload}, ${d.payloadSize}, ${d.payloadTruncated})
    returning id`;
  return row!.id;
}
