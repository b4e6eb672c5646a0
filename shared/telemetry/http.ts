// A SERVER span around each request of an HTTP function (callbacks, status, policy): its
// parent is the request's `traceparent` header (a workflow step's, for callbacks, which is
// how a run's callbacks join its idea's trace), or a new root.
import type { Handler, HttpRequest } from '../http/index.js';
import { contextFrom, inSpan, SpanKind } from './tracing.js';
import type { Attributes } from '@opentelemetry/api';

export interface TraceHandlerOptions {
  /** The route template for the span's name and `http.route` (no ids: bounded cardinality). */
  readonly route?: (req: HttpRequest) => string;
  /** Attributes of the request worth searching by (a run id). */
  readonly attributes?: (req: HttpRequest) => Attributes;
}

export function traceHandler(fn: string, handler: Handler, opts: TraceHandlerOptions = {}): Handler {
  return (req) => {
    const route = opts.route?.(req) ?? `/${fn}`;
    const attributes: Attributes = { 'faas.name': fn, 'faas.trigger': 'http', 'http.request.method': req.method, 'http.route': route, ...opts.attributes?.(req) };
    return inSpan(`${req.method} ${route}`, { kind: SpanKind.SERVER, parent: contextFrom(req.headers['traceparent']), attributes }, async (span) => {
      const res = await handler(req);
      span.setAttribute('http.response.status_code', res.status);
      return res;
    });
  };
}
