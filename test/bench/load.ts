// A closed-loop HTTP load generator: N connections, each sending its next request as soon
// as the previous answer arrives, for a fixed duration. Keep-alive sockets, no fetch layer.
import { Agent, request } from 'node:http';

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly statuses: Record<number, number>;
}

export interface Req {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

export function send(agent: Agent, url: URL, r: Req): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: r.path, method: 'POST', headers: { ...r.headers, 'content-length': String(r.body.length) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

export async function runLoad(baseUrl: string, connections: number, seconds: number, next: () => Req): Promise<LoadResult> {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          const status = await send(agent, url, next());
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status >= 300) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return { requests: latencies.length, errors, seconds: elapsed, perSecond: (latencies.length - errors) / elapsed, p50: q(0.5), p99: q(0.99), statuses };
}
