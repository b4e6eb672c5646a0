// Serves a function handler over real HTTP (the same node adapter local mode uses) and
// speaks to it the way Knative's KafkaSource does.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Handler } from '../../shared/http/index.js';
import { readRequest, writeResponse } from '../../shared/http/node.js';

export interface Served {
  readonly url: string;
  close(): Promise<void>;
}

export async function serve(handler: Handler, maxBodyBytes = 1024 * 1024): Promise<Served> {
  const server = createServer((req, res) => {
    readRequest(req, maxBodyBytes)
      .then(handler)
      .then((out) => writeResponse(res, out))
      .catch((err) => {
        res.writeHead(500);
        res.end(String(err));
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let offset = 0;

export interface KafkaEventOptions {
  readonly topic: string;
  readonly body: string | Uint8Array;
  readonly contentType?: string;
  readonly key?: string;
  readonly kafkaHeaders?: Record<string, string>;
  readonly id?: string;
  readonly headers?: Record<string, string>;
  readonly path?: string;
}

/** Binary-mode CloudEvent as KafkaSource posts a Kafka record. */
export function kafkaEventRequest(o: KafkaEventOptions): { headers: Record<string, string>; body: string | Uint8Array } {
  offset += 1;
  const headers: Record<string, string> = {
    'ce-specversion': '1.0',
    'ce-type': 'dev.knative.kafka.event',
    'ce-source': `/apis/v1/namespaces/facteur/kafkasources/facteur-intake#${o.topic}`,
    'ce-subject': `partition:0#${offset}`,
    'ce-id': o.id ?? `partition:0/offset:${offset}`,
    'ce-time': new Date().toISOString(),
    'content-type': o.contentType ?? 'application/json',
    ...(o.key ? { 'ce-key': o.key } : {}),
    ...(o.headers ?? {}),
  };
  for (const [k, v] of Object.entries(o.kafkaHeaders ?? {})) headers[`ce-kafkaheader${k.toLowerCase().replace(/-/g, '')}`] = v;
  return { headers, body: o.body };
}

export async function postEvent(url: string, o: KafkaEventOptions): Promise<{ status: number; body: any }> {
  const req = kafkaEventRequest(o);
  return readAnswer(await fetch(url + (o.path ?? '/'), { method: 'POST', headers: req.headers, body: req.body as any }));
}

/** A response's status and body: parsed when it is JSON, the text otherwise (for the failure message). */
export async function readAnswer(res: Response): Promise<{ status: number; body: any }> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}

export function ideaSpec(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    title: 'Add dark mode',
    goal: 'Users can switch the dashboard to a dark theme.',
    successMetrics: ['toggle persists across reloads'],
    acceptanceCriteria: ['contrast ratio ≥ 4.5'],
    repository: 'acme/web',
    ...overrides,
  };
}
