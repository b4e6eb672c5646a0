// Where a dispatch hop's time goes: the callbacks process exports its trace spans (OTLP/HTTP
// JSON, the SDK the functions ship) to a receiver in the bench process, and each hop's spans
// are placed against its request's own span. Run at a low rate, so the figures are the hop's
// own sequential latency, not queueing; tracing's overhead is in them.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Span { trace: string; name: string; start: number; end: number }

export interface SpanReceiver {
  readonly url: string;
  readonly spans: Span[];
  close(): Promise<void>;
}

export async function startSpanReceiver(): Promise<SpanReceiver> {
  const spans: Span[] = [];
  const ns = (v: unknown) => Number(BigInt(String(v))) / 1e6; // ms
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans?: { scopeSpans?: { spans?: Record<string, unknown>[] }[] }[] };
        for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) {
          spans.push({ trace: String(s.traceId), name: String(s.name), start: ns(s.startTimeUnixNano), end: ns(s.endTimeUnixNano) });
        }
      } catch {
        // not JSON (a protobuf exporter): nothing to place
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Per span name: the median start after the hop's request began, and the median duration (ms). */
export function hopBreakdown(spans: readonly Span[], requestSpan: RegExp): { name: string; start: number; duration: number; n: number }[] {
  const byTrace = new Map<string, Span[]>();
  for (const s of spans) byTrace.set(s.trace, [...(byTrace.get(s.trace) ?? []), s]);
  const at = new Map<string, { starts: number[]; durations: number[] }>();
  for (const trace of byTrace.values()) {
    const req = trace.find((s) => requestSpan.test(s.name));
    if (!req) continue;
    for (const s of trace) {
      const e = at.get(s.name) ?? { starts: [], durations: [] };
      e.starts.push(s.start - req.start);
      e.durations.push(s.end - s.start);
      at.set(s.name, e);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  return [...at].map(([name, e]) => ({ name, start: median(e.starts), duration: median(e.durations), n: e.starts.length })).sort((a, b) => a.start - b.start);
}
