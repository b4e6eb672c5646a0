// The transport-neutral request/response every function handler speaks. Two adapters
// carry it: the Functions Framework (one function per Knative Service) and the local
// server (every function in one process, `npm start`).
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Secret } from '../config/index.js';
import {
  ConflictError,
  ForbiddenError,
  NonRetriableError,
  NotFoundError,
  RetryableError,
  UnauthorizedError,
  ValidationError,
  type Issue,
} from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { isContention, isUnavailable } from '../db/errors.js';

export interface HttpRequest {
  readonly method: string;
  /** Path below the function's mount point, always starting with `/`. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Lower-cased header names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** True when the body was larger than the server's limit; `body` then holds a prefix. */
  readonly bodyTruncated?: boolean;
  /** The full size in bytes, even when truncated. */
  readonly bodySize?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A JSON value (serialized), a string (text/plain unless a content-type is given) or bytes. */
  readonly body?: unknown;
  /**
   * A streamed body in place of `body` (Server-Sent Events): the adapter sends the status and
   * headers at once, then hands the sink to this callback and ends the response when the
   * promise settles. The sink's signal aborts when the client goes away.
   */
  readonly stream?: (sink: StreamSink) => Promise<void>;
}

export interface StreamSink {
  /** Writes a chunk at once (no buffering); false once the client is gone. */
  write(chunk: string): boolean;
  /** Aborted when the connection closes (the client left, or the server is closing). */
  readonly signal: AbortSignal;
}

export type Handler = (req: HttpRequest) => Promise<HttpResponse>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { status, body, headers: { 'content-type': 'application/json', ...headers } };
}

export interface ErrorBody {
  error: { code: string; message: string; issues: readonly Issue[] };
}

export function errorBody(code: string, message: string, issues: readonly Issue[] = []): ErrorBody {
  return { error: { code, message, issues } };
}

/** Maps the error hierarchy to HTTP. Anything unknown is a 500 and is logged. */
export function errorResponse(err: unknown, log?: Logger): HttpResponse {
  if (err instanceof ValidationError) return json(400, errorBody(err.code, err.message, err.issues));
  if (err instanceof UnauthorizedError) return json(401, errorBody(err.code, err.message), { 'www-authenticate': 'Bearer' });
  if (err instanceof ForbiddenError) return json(403, errorBody(err.code, err.message));
  if (err instanceof NotFoundError) return json(404, errorBody(err.code, err.message));
  if (err instanceof ConflictError) return json(409, errorBody(err.code, err.message));
  if (err instanceof NonRetriableError) return json(statusForNonRetriable(err.code), errorBody(err.code, err.message));
  if (isUnavailable(err)) return json(503, errorBody('database_unavailable', 'the database is unreachable; retry later'), { 'retry-after': '1' });
  if (isContention(err)) return json(503, errorBody('contention', 'lost a race with another transaction; retry'), { 'retry-after': '1' });
  if (err instanceof RetryableError) {
    const headers: Record<string, string> = {};
    if (err.retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
    return json(503, errorBody(err.code, err.message), headers);
  }
  log?.error('unhandled error', { err });
  return json(500, errorBody('internal', 'internal error'));
}

function statusForNonRetriable(code: string): number {
  switch (code) {
    case 'payload_too_large':
      return 413;
    case 'unsupported_media_type':
      return 415;
    case 'method_not_allowed':
      return 405;
    default:
      return 422;
  }
}

/**
 * A path segment, percent-decoded. Malformed encoding (`%ZZ`, a cut UTF-8 sequence like
 * `%E0%A4%A`) is the caller's mistake: a 400, never the URIError (500) it used to be.
 */
export function pathParam(raw: string, name = 'id'): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ValidationError('the path is not valid percent-encoding', [{ path: `path.${name}`, message: 'malformed percent-encoding (e.g. %ZZ or a cut UTF-8 sequence)' }], 'malformed_path');
  }
}

/** Splits a request target into path and query without ever throwing (`new URL` can). */
export function splitTarget(target: string): { path: string; query: URLSearchParams } {
  const q = target.indexOf('?');
  let path = q < 0 ? target : target.slice(0, q);
  const hash = path.indexOf('#');
  if (hash >= 0) path = path.slice(0, hash);
  // absolute-form targets (`GET http://host/x`) carry the path after the authority
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(path);
  if (abs) path = path.slice(abs[0].length);
  if (!path.startsWith('/')) path = '/' + path;
  return { path, query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1).split('#')[0]) };
}

/** Constant-time bearer check; hashing first makes the comparison length-independent. */
export function bearerMatches(header: string | undefined, expected: Secret): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(expected.reveal()).digest();
  return timingSafeEqual(a, b);
}

/** Throws UnauthorizedError unless the request carries the token (when one is configured). */
export function requireBearer(req: HttpRequest, token: Secret | undefined): void {
  if (token === undefined) return;
  if (!bearerMatches(req.headers['authorization'], token)) {
    throw new UnauthorizedError('a valid bearer token is required (Authorization: Bearer <token>)');
  }
}
