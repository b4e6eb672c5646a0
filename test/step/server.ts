// A stand-in for the callbacks function: a real node:http server on 127.0.0.1 that records
// every request and answers from a script (then 202 once the script is used up).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Reply =
  | { readonly status: number; readonly body?: unknown; readonly headers?: Record<string, string> }
  /** Never answer (the client must time out). */
  | 'hang'
  /** Drop the connection without an answer (a network error for the client). */
  | 'drop';

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly raw: string;
  readonly body: Record<string, unknown>;
}

export class ScriptedServer {
  readonly requests: Recorded[] = [];
  private readonly replies: Reply[] = [];
  private server: Server | undefined;
  private readonly hanging = new Set<IncomingMessage>();
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/v1/runs/run-1/events`;
  }

  /** Queue answers for the next requests, in order. */
  script(...replies: Reply[]): this {
    this.replies.push(...replies);
    return this;
  }

  /** Forget what was recorded and what was scripted. */
  reset(): this {
    this.requests.length = 0;
    this.replies.length = 0;
    return this;
  }

  /** Recorded bodies' seqs, in arrival order. */
  seqs(): number[] {
    return this.requests.map((r) => r.body.seq as number);
  }

  async listen(port = this.port): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          /* recorded as {} */
        }
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, body });
        const reply = this.replies.shift() ?? { status: 202, body: { recorded: true } };
        if (reply === 'hang') {
          this.hanging.add(req);
          return;
        }
        if (reply === 'drop') {
          req.socket.destroy();
          return;
        }
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const req of this.hanging) req.socket.destroy();
    this.hanging.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
