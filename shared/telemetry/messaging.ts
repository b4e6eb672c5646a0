// A PRODUCER span per event published from the outbox (to Kafka, or local mode's in-process
// bus), with the messaging and CloudEvents semantic conventions. Its context is what the
// record carries as `traceparent` (a header, and the CloudEvents distributed-tracing
// extension in the structured event), so the consumer's span is the publish span's child.
import { context, SpanKind, type Span } from '@opentelemetry/api';
import { cloudEventAttributes, contextFrom, failed, inTrace, traceparentOf, tracer } from './tracing.js';
import { validTraceparent } from './traceparent.js';
import type { OutboxEvent } from '../outbox/index.js';

/** What of an outbox event its publish span describes. */
export type Publishable = Pick<OutboxEvent, 'eventId' | 'type' | 'source' | 'subject' | 'topic' | 'key' | 'traceContext'>;

export interface PublishSpan {
  /** What the published record carries: the span's context, or the event's own without an SDK. */
  readonly traceparent: string | undefined;
  end(err?: unknown): void;
}

/**
 * Starts the span of publishing `event` on `system` (`kafka`, `facteur-local-bus`). Its
 * parent is the context stored with the event (the trace of what caused it); an event stored
 * without one is published in the active trace, or with no span at all outside any.
 */
export function startPublishSpan(event: Publishable, system: string): PublishSpan {
  const stored = validTraceparent(event.traceContext);
  if (!stored && !inTrace()) return { traceparent: undefined, end: () => {} };
  const parent = stored ? contextFrom(stored) : context.active();
  const span: Span = tracer().startSpan(`send ${event.topic}`, {
    kind: SpanKind.PRODUCER,
    attributes: {
      'messaging.system': system,
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': event.topic,
      'messaging.message.id': event.eventId,
      ...(event.key !== null ? { 'messaging.kafka.message.key': event.key } : {}),
      ...cloudEventAttributes({ id: event.eventId, source: event.source, type: event.type, subject: event.subject ?? undefined }),
    },
  }, parent);
  return {
    traceparent: traceparentOf(span) ?? stored,
    end(err) {
      if (err !== undefined) failed(span, err);
      span.end();
    },
  };
}

