// GET for issuer discovery and JWKS. Node's global fetch cannot be given a CA of its own
// (the in-cluster issuer is served with the cluster's CA, not a public one), so this speaks
// node:http(s) directly and hands back a standard Response (what jose's customFetch wants).
// Every request is bounded: a timeout, no redirects followed (a bearer must not travel on to
// wherever a redirect points) and a cap on the body.
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Discovery documents and key sets are a few KiB; anything far larger is not one. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface FetcherOptions {
  /** PEM file of the only CA trusted (replaces the system roots); read at each request. */
  readonly caFile?: string | undefined;
  /** File holding a bearer token (a projected service-account token rotates: read each time). */
  readonly tokenFile?: string | undefined;
  readonly timeoutMs: number;
}

export interface GetOptions {
  readonly headers?: Headers | Record<string, string>;
  readonly signal?: AbortSignal;
  /** Send the bearer from tokenFile (the caller decides where it may go). */
  readonly bearer: boolean;
}

/** The issuer (or the path to it) failed: a network error, a timeout, a bad answer. */
export class FetchFailed extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FetchFailed';
  }
}

export type Get = (url: string, opts: GetOptions) => Promise<Response>;

export function createFetcher(o: FetcherOptions): Get {
  return async (url, opts) => {
    const target = new URL(url);
    const headers: Record<string, string> = { accept: 'application/json' };
    new Headers(opts.headers ?? {}).forEach((v, k) => (headers[k] = v));
    if (opts.bearer && o.tokenFile) {
      const token = (await readFile(o.tokenFile, 'utf8').catch((err: unknown) => {
        throw new FetchFailed(`cannot read the discovery token file ${o.tokenFile}: ${(err as Error).message}`, { cause: err });
      })).trim();
      headers['authorization'] = `Bearer ${token}`;
    }
    const ca = o.caFile && target.protocol === 'https:'
      ? await readFile(o.caFile).catch((err: unknown) => {
          throw new FetchFailed(`cannot read the CA file ${o.caFile}: ${(err as Error).message}`, { cause: err });
        })
      : undefined;
    const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(o.timeoutMs)]) : AbortSignal.timeout(o.timeoutMs);
    const request = target.protocol === 'https:' ? httpsRequest : target.protocol === 'http:' ? httpRequest : undefined;
    if (!request) throw new FetchFailed(`unsupported URL scheme ${target.protocol}`);
    return new Promise<Response>((resolve, reject) => {
      const req = request(target, { method: 'GET', headers, signal, ...(ca ? { ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            req.destroy(new FetchFailed(`${target.origin}${target.pathname} answered more than ${MAX_BODY_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const out = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') out.set(k, v);
          const status = res.statusCode ?? 502;
          // a Response refuses a body with these statuses
          const body = [204, 205, 304].includes(status) ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status: status >= 200 && status <= 599 ? status : 502, headers: out }));
        });
        res.on('error', (err) => reject(wrap(err, target)));
      });
      req.on('error', (err) => reject(wrap(err, target)));
      req.end();
    });
  };
}

function wrap(err: unknown, target: URL): Error {
  if (err instanceof FetchFailed) return err;
  const e = err as NodeJS.ErrnoException;
  // jose recognises a timeout by this name (JWKSTimeout)
  if (e.name === 'AbortError' || e.name === 'TimeoutError') {
    const t = new FetchFailed(`${target.origin}${target.pathname}: timed out`, { cause: err });
    t.name = 'TimeoutError';
    return t;
  }
  return new FetchFailed(`${target.origin}${target.pathname}: ${e.code ?? e.message}`, { cause: err });
}
