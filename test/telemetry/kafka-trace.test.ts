// The trace context of a Kafka publish, over the real Kafka protocol (KAFKA_BROKERS): a
// PRODUCER span per record under the context stored with the outbox event, with the
// messaging conventions, and its context both as the `traceparent` record header and as the
// CloudEvents distributed-tracing extension in the structured value.
import { randomBytes } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import type { OutboxEvent } from '../../shared/outbox/index.js';
import { createKafkaPublisher } from '../../shared/outbox/kafka.js';
import { parseTraceparent } from '../../shared/telemetry/index.js';
import { parentOf, recordSpans } from '../helpers/spans.js';

const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').filter(Boolean);
const topic = `facteur.events.trace.${Date.now()}`;
const rec = recordSpans();
afterAll(() => rec.shutdown());

async function consume(n: number): Promise<KafkaMessage[]> {
  const consumer = new Kafka({ clientId: 'trace-test', brokers, logLevel: logLevel.NOTHING }).consumer({ groupId: `g-${Date.now()}-${Math.random()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got: KafkaMessage[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${n} messages`)), 15_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message);
        if (got.length >= n) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return got;
}

const event = (eventId: string, traceContext: string | null): OutboxEvent => ({
  id: '1', eventId, type: 'facteur.idea.registered', source: '/facteur/intake', subject: 'idea-1', topic, key: 'idea-1',
  data: { ideaId: 'idea-1' }, traceContext, time: new Date().toISOString(),
});

describe('Kafka publish', () => {
  it('carries the publish span\'s context as a header and as the CloudEvent\'s traceparent', async () => {
    expect(brokers.length).toBeGreaterThan(0);
    const traceId = randomBytes(16).toString('hex');
    const stored = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
    const publisher = await createKafkaPublisher({ brokers, clientId: 'facteur-trace-test' });
    try {
      await publisher.publish([event('traced', stored), event('untraced', null), event('hostile', 'ff-zz')]);
    } finally {
      await publisher.close();
    }
    const byId = new Map((await consume(3)).map((m) => [JSON.parse(m.value!.toString()).id as string, m]));

    const spans = rec.spans();
    expect(spans).toHaveLength(1); // an event stored without a (valid) context, outside any trace, gets none
    const [span] = spans;
    expect(span!.name).toBe(`send ${topic}`);
    expect(span!.kind).toBe(SpanKind.PRODUCER);
    expect(span!.spanContext().traceId).toBe(traceId);
    expect(parentOf(span!)).toBe(parseTraceparent(stored)!.spanId);
    expect(span!.attributes).toMatchObject({
      'messaging.system': 'kafka', 'messaging.operation.type': 'send', 'messaging.destination.name': topic,
      'messaging.message.id': 'traced', 'messaging.kafka.message.key': 'idea-1',
      'cloudevents.event_id': 'traced', 'cloudevents.event_type': 'facteur.idea.registered', 'cloudevents.event_subject': 'idea-1',
    });
    const published = `00-${traceId}-${span!.spanContext().spanId}-01`;
    const traced = byId.get('traced')!;
    expect(traced.headers?.traceparent?.toString()).toBe(published);
    expect(JSON.parse(traced.value!.toString())).toMatchObject({ specversion: '1.0', id: 'traced', traceparent: published });

    for (const id of ['untraced', 'hostile']) {
      const m = byId.get(id)!;
      expect(m.headers).not.toHaveProperty('traceparent');
      expect(JSON.parse(m.value!.toString())).not.toHaveProperty('traceparent');
    }
  });
});
