// Spans through `@opentelemetry/api` only. With no SDK registered (no OTLP endpoint set, see
// ./index.ts) every tracer is the API's no-op one: a span costs an object and a context
// switch, and propagation still works, since a non-recording span carries its parent's ids.
import {
  INVALID_SPAN_CONTEXT,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  createContextKey,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TimeInput,
} from '@opentelemetry/api';
import { formatTraceparent, parseTraceparent } from './traceparent.js';

export { SpanKind, type Span };

export const TRACER_NAME = 'facteur';

export function tracer() {
  return trace.getTracer(TRACER_NAME);
}

/**
 * A context whose parent span is the one `traceparent` names (remote), or the root context
 * when it is missing or invalid: the span started in it is then the root of a new trace.
 */
export function contextFrom(traceparent: unknown): Context {
  const tp = parseTraceparent(traceparent);
  if (!tp) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: tp.traceId, spanId: tp.spanId, traceFlags: tp.flags, isRemote: true });
}

/** The traceparent of a span (recording or not), or undefined when its context is invalid. */
export function traceparentOf(span: Span | undefined): string | undefined {
  const sc = span?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return undefined;
  return formatTraceparent({ traceId: sc.traceId, spanId: sc.spanId, flags: sc.traceFlags });
}

/** Whether some trace is active: work outside any (a local-mode tick) starts no lonely root spans. */
export function inTrace(): boolean {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc !== undefined && trace.isSpanContextValid(sc);
}

/**
 * The parent for work on behalf of an idea whose trace is `traceparent`: the active context
 * when it is that trace already (an event or callback of the same idea), else the idea's own
 * context (a tick, or a global scheduling pass that claims another idea's task), so an
 * idea's spans never land in another idea's trace. Without a valid one: the active context.
 */
export function contextForTrace(traceparent: unknown): Context {
  const tp = parseTraceparent(traceparent);
  if (!tp || trace.getActiveSpan()?.spanContext().traceId === tp.traceId) return context.active();
  return contextFrom(traceparent);
}

/** The traceparent of the active span, if there is a valid one. */
export function activeTraceparent(): string | undefined {
  return traceparentOf(trace.getActiveSpan());
}

export interface SpanOptions {
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  /** The parent: a context from `contextFrom`; the active context when absent. */
  readonly parent?: Context;
  readonly startTime?: TimeInput;
}

/**
 * Runs `fn` inside a new active span, ended when `fn` settles; a throw marks the span as an
 * error (the exception recorded) and is rethrown unchanged.
 */
export function inSpan<T>(name: string, opts: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = opts.parent ?? context.active();
  const span = tracer().startSpan(name, startOptions(opts), parent);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn(span);
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** `inSpan` within a trace; outside any, `fn` alone (with a non-recording span): no lonely roots. */
export function inTracedSpan<T>(name: string, opts: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  return inTrace() ? inSpan(name, opts, fn) : fn(trace.wrapSpanContext(INVALID_SPAN_CONTEXT));
}

function startOptions(opts: SpanOptions) {
  return { kind: opts.kind ?? SpanKind.INTERNAL, ...(opts.attributes ? { attributes: opts.attributes } : {}), ...(opts.startTime ? { startTime: opts.startTime } : {}) };
}

/** Marks a span as failed by `err`. */
export function failed(span: Span, err: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message.slice(0, 500) : String(err).slice(0, 500) });
  if (err instanceof Error) span.recordException(err);
}

/**
 * The context key by which a span's id is chosen in advance (a stage span, whose id the
 * run's callbacks already used as their parent). Only Facteur's SDK set-up reads it
 * (./sdk.ts, its id generator); without it the key is simply ignored.
 */
export const PRESET_SPAN_ID = createContextKey('facteur.preset_span_id');

/** Starts (not activates) a span; the caller ends it. */
export function startSpan(name: string, opts: SpanOptions): Span {
  return tracer().startSpan(name, startOptions(opts), opts.parent ?? context.active());
}

/** Starts (not activates) a span whose span id is `spanId`, when the SDK is Facteur's. */
export function startSpanWithId(spanId: string, name: string, opts: SpanOptions): Span {
  const parent = opts.parent ?? context.active();
  return context.with(context.active().setValue(PRESET_SPAN_ID, spanId), () => startSpan(name, { ...opts, parent }));
}

/** The CloudEvents semantic conventions for a span about one event. */
export function cloudEventAttributes(event: { readonly id: string; readonly source: string; readonly type: string; readonly subject?: string | undefined }): Attributes {
  return {
    'cloudevents.event_id': event.id,
    'cloudevents.event_source': event.source,
    'cloudevents.event_type': event.type,
    'cloudevents.event_spec_version': '1.0',
    ...(event.subject ? { 'cloudevents.event_subject': event.subject } : {}),
  };
}

/** A SERVER span for one received CloudEvent in `fn` (intake, dispatch): its parent is the event's traceparent. */
export function eventSpan(fn: string, event: { readonly id: string; readonly source: string; readonly type: string; readonly subject?: string | undefined; readonly traceparent: string | undefined }): SpanOptions {
  return { kind: SpanKind.SERVER, parent: contextFrom(event.traceparent), attributes: { 'faas.name': fn, 'faas.trigger': 'pubsub', ...cloudEventAttributes(event) } };
}
