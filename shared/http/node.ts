// Node http adapter: reads the body up to a limit (keeping a prefix of anything larger, so
// a rejected payload can still be kept for inspection), builds an HttpRequest, writes the
// HttpResponse.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { splitTarget, type HttpRequest, type HttpResponse } from './index.js';

const KEEP_OF_OVERSIZED = 64 * 1024;

export interface ReadBody {
  readonly body: Buffer;
  readonly truncated: boolean;
  readonly size: number;
}

/** Reads a body stream up to maxBytes, keeping a prefix of anything larger. */
export async function readBody(stream: AsyncIterable<Buffer>, maxBytes: number): Promise<ReadBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  let kept = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size <= maxBytes) {
      chunks.push(chunk);
      kept += chunk.length;
    } else if (kept < KEEP_OF_OVERSIZED) {
      const room = KEEP_OF_OVERSIZED - kept;
      chunks.push(chunk.subarray(0, room));
      kept += Math.min(room, chunk.length);
    }
  }
  let body = Buffer.concat(chunks);
  const truncated = size > maxBytes;
  if (truncated) body = body.subarray(0, KEEP_OF_OVERSIZED);
  return { body, truncated, size };
}

export async function readRequest(req: IncomingMessage, maxBytes: number, mount = ''): Promise<HttpRequest> {
  const { body, truncated, size } = await readBody(req as AsyncIterable<Buffer>, maxBytes);
  const target = splitTarget(req.url ?? '/');
  let path = target.path;
  if (mount && path.startsWith(mount)) path = path.slice(mount.length) || '/';
  const headers = headersOf(req.headers);
  // the mount point, for links a function builds to itself (the dashboard's redirects):
  // this server's own, never a client's
  if (mount) headers['x-forwarded-prefix'] = mount;
  return {
    method: req.method ?? 'GET',
    path,
    query: target.query,
    headers,
    body,
    bodyTruncated: truncated,
    bodySize: size,
  };
}

export function headersOf(raw: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export function writeResponse(res: ServerResponse, out: HttpResponse): void {
  if (out.stream) return writeStream(res, out, out.stream);
  const headers: Record<string, string> = { ...(out.headers ?? {}) };
  let payload: Buffer | string | undefined;
  if (out.body === undefined || out.body === null) payload = undefined;
  else if (Buffer.isBuffer(out.body)) payload = out.body;
  else if (typeof out.body === 'string') {
    payload = out.body;
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else {
    payload = JSON.stringify(out.body);
    headers['content-type'] ??= 'application/json';
  }
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  res.writeHead(out.status, headers);
  res.end(payload);
}

/** A streamed response: headers now, then whatever the producer writes until it returns. */
function writeStream(res: ServerResponse, out: HttpResponse, produce: NonNullable<HttpResponse['stream']>): void {
  const closed = new AbortController();
  res.once('close', () => closed.abort());
  res.writeHead(out.status, { ...(out.headers ?? {}) });
  res.flushHeaders();
  const write = (chunk: string): boolean => {
    if (res.destroyed || res.writableEnded) return false;
    res.write(chunk);
    return true;
  };
  void produce({ write, signal: closed.signal })
    .catch(() => {})
    .finally(() => {
      if (!res.writableEnded) res.end();
    });
}
