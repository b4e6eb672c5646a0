// Publishes outbox events to Kafka as structured-mode CloudEvents (kafkajs). The record
// key is the event's key (the idea id), so one idea's events stay in order on a partition;
// `ce_id` carries the stable event id consumers dedupe on.
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { OutboxEvent, Publisher } from './index.js';
import { startPublishSpan } from '../telemetry/messaging.js';

export interface KafkaPublisher extends Publisher {
  close(): Promise<void>;
}

export async function createKafkaPublisher(opts: { brokers: readonly string[]; clientId: string }): Promise<KafkaPublisher> {
  const kafka = new Kafka({ clientId: opts.clientId, brokers: [...opts.brokers], logLevel: logLevel.NOTHING, retry: { retries: 3 } });
  // Not idempotent/transactional: the mock broker used in tests does not support it, and
  // the design does not need it (consumers dedupe on the CloudEvent id).
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: true });
  // Connected on first need, never awaited at start: an instance that started while the
  // broker was away (a restart, a network partition) used to exit, and Knative restarted it
  // in a loop, though it serves requests fine without Kafka — the outbox keeps the events and
  // the relay publishes them once the broker is back (found by `npm run chaos`).
  let connecting: Promise<void> | undefined;
  const connected = () =>
    (connecting ??= producer.connect().catch((err: unknown) => {
      connecting = undefined;
      throw err;
    }));
  producer.on(producer.events.DISCONNECT, () => {
    connecting = undefined;
  });
  connected().catch(() => {}); // early, so the first publish seldom waits; failures surface there
  return {
    async publish(events: readonly OutboxEvent[]) {
      await connected();
      // one span per record, ended when the batch is acknowledged (or refused)
      const spans = events.map((e) => ({ e, span: startPublishSpan(e, 'kafka') }));
      const byTopic = new Map<string, typeof spans>();
      for (const s of spans) byTopic.set(s.e.topic, [...(byTopic.get(s.e.topic) ?? []), s]);
      try {
        await producer.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, evs]) => ({ topic, messages: evs.map(({ e, span }) => record(e, span.traceparent)) })),
        });
      } catch (err) {
        for (const s of spans) s.span.end(err);
        throw err;
      }
      for (const s of spans) s.span.end();
    },
    close: () => producer.disconnect(),
  };
}

/**
 * The structured CloudEvent as the record's value, its trace context both as the
 * distributed-tracing extension (`traceparent`, for the CloudEvent's consumers) and as a
 * record header (`traceparent`, for Kafka-level tooling); `ce_id` carries the stable id.
 */
export function record(e: OutboxEvent, traceparent: string | undefined) {
  return {
    key: e.key,
    value: JSON.stringify({
      specversion: '1.0', id: e.eventId, type: e.type, source: e.source, time: e.time,
      ...(e.subject ? { subject: e.subject } : {}), datacontenttype: 'application/json', data: e.data,
      ...(traceparent ? { traceparent } : {}),
    }),
    headers: { 'content-type': 'application/cloudevents+json', ce_id: e.eventId, ce_type: e.type, ...(traceparent ? { traceparent } : {}) },
  };
}
