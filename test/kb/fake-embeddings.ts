// A FAKE OpenAI-compatible embeddings provider: a local HTTP server answering
// `POST /v1/embeddings` the way OpenAI, Ollama or TEI do, with its vectors made by the
// local feature-hashing embedder (so they are real, deterministic vectors), and with the
// faults a real provider has, switched on by the test: down (503), rate-limited (429 with
// Retry-After), slow (answers after the client's timeout), the wrong dimension.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { embedLocal } from '../../shared/kb/embed/local.js';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string; body?: string }
  | { kind: 'slow'; ms: number }
  | { kind: 'dimensions'; dimensions: number }
  | { kind: 'reset' }
  /** A 400 for any request holding a text that contains `text` (a provider refusing one input). */
  | { kind: 'refuse'; text: string };

export interface FakeEmbeddings {
  readonly url: string;
  /** Every request's body and authorization header, in order. */
  readonly requests: { input: string[]; model: string; authorization: string | undefined; apiKey: string | undefined; at: number }[];
  /** Faults served to the next requests, one each, in order (then normal answers). */
  readonly faults: Fault[];
  /** When set, every request gets this fault (an outage), until cleared. */
  outage: Fault | undefined;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeEmbeddings(dimensions: number): Promise<FakeEmbeddings> {
  const fake: FakeEmbeddings = {
    url: '',
    requests: [],
    faults: [],
    outage: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const parsed = JSON.parse(await body(req)) as { input: string[]; model: string };
      fake.requests.push({ input: parsed.input, model: parsed.model, authorization: req.headers.authorization, apiKey: req.headers['api-key'] as string | undefined, at: Date.now() });
      const fault = fake.outage ?? fake.faults.shift();
      if (fault?.kind === 'refuse' && parsed.input.some((t) => t.includes(fault.text))) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'this input is not accepted' } }));
        return;
      }
      if (fault?.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'status') {
        res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}) });
        res.end(fault.body ?? JSON.stringify({ error: { message: 'fault' } }));
        return;
      }
      if (fault?.kind === 'slow') await new Promise((r) => setTimeout(r, fault.ms));
      const dims = fault?.kind === 'dimensions' ? fault.dimensions : dimensions;
      // unnormalized on purpose (×3): the provider must scale vectors to unit length
      const data = parsed.input.map((t, index) => ({ object: 'embedding', index, embedding: embedLocal(t, dims).map((x) => x * 3) }));
      // answered out of order: the provider must put them back by index
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: data.reverse(), model: parsed.model }));
    })().catch(() => {
      if (!res.headersSent) res.writeHead(400).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (fake as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return fake;
}
