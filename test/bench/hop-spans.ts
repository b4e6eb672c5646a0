// Where a dispatch hop's time goes: the callbacks process exports its trace spans to the test
// helpers' OTLP receiver (test/helpers/fake-otlp.ts), and each hop's spans are placed against
// its request's own span. Run at a low rate, so the figures are the hop's own sequential
// latency, not queueing; tracing's overhead is in them.
import type { ReceivedSpan } from '../helpers/fake-otlp.js';

/** Per span name: the median start after the hop's request began, and the median duration (ms). */
export function hopBreakdown(spans: readonly ReceivedSpan[], requestSpan: RegExp): { name: string; start: number; duration: number; n: number }[] {
  const byTrace = new Map<string, ReceivedSpan[]>();
  for (const s of spans) {
    const trace = byTrace.get(s.traceId);
    if (trace) trace.push(s);
    else byTrace.set(s.traceId, [s]);
  }
  const at = new Map<string, { starts: number[]; durations: number[] }>();
  for (const trace of byTrace.values()) {
    const req = trace.find((s) => requestSpan.test(s.name));
    if (!req) continue;
    for (const s of trace) {
      const e = at.get(s.name) ?? { starts: [], durations: [] };
      e.starts.push(s.startMs - req.startMs);
      e.durations.push(s.endMs - s.startMs);
      at.set(s.name, e);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  return [...at].map(([name, e]) => ({ name, start: median(e.starts), duration: median(e.durations), n: e.starts.length })).sort((a, b) => a.start - b.start);
}
