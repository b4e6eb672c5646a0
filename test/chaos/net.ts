// HTTP from the harness to the instances: node:http, so paths, headers and bodies go out
// byte for byte as given (`/v1/runs/%ZZ/events`, a NUL body, invalid UTF-8).
import { Agent, request as httpRequest } from 'node:http';

const newAgent = () => new Agent({ keepAlive: true, maxSockets: 96, keepAliveMsecs: 1000 });
let agent = newAgent();

export interface Sent {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer | Uint8Array;
  readonly timeoutMs?: number;
}

export interface Received {
  readonly status: number;
  readonly text: string;
  readonly json: unknown;
}

export class NetworkError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
  }
}

export function send(baseUrl: string, r: Sent): Promise<Received> {
  const u = new URL(baseUrl);
  const body = r.body === undefined ? undefined : typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : Buffer.from(r.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        agent, host: u.hostname, port: u.port, method: r.method ?? 'POST', path: r.path,
        headers: { ...(r.headers ?? {}), ...(body ? { 'content-length': String(body.length) } : {}) },
        timeout: r.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
        res.on('error', (err: NodeJS.ErrnoException) => reject(new NetworkError(err.message, err.code)));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new NetworkError(err.message, err.code)));
    req.end(body);
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Capped exponential backoff with full jitter. */
export function backoff(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return cap / 2 + (random() * cap) / 2;
}

/** Closes the kept-alive sockets (between runs, and at the end). */
export function closeAgent(): void {
  agent.destroy();
  agent = newAgent();
}
