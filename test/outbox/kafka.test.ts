// The outbox relay over the real Kafka protocol (librdkafka's mock cluster, started by the
// test harness; KAFKA_BROKERS when set): every event published once per successful drain,
// nothing lost while Kafka is down, consumers can dedupe on the CloudEvent id.
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { drainOutbox, type Publisher } from '../../shared/outbox/index.js';
import { createKafkaPublisher } from '../../shared/outbox/kafka.js';
import { createTestDb } from '../helpers/db.js';

const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').filter(Boolean);
const topic = `facteur.events.test.${Date.now()}`;
const db = await createTestDb();

async function addEvents(n: number, tag: string) {
  await db.sql`
    insert into codex_kb.outbox (type, source, subject, topic, key, data)
    select 'facteur.test', '/test', ${tag} || '-' || g, ${topic}, 'k' || (g % 3), jsonb_build_object('n', g, 'tag', ${tag}::text)
      from generate_series(1, ${n}) g`;
}

async function consumeAll(expected: number, timeoutMs = 15_000): Promise<{ id: string; key: string | null; data: any }[]> {
  const kafka = new Kafka({ clientId: 'outbox-test', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `g-${Date.now()}-${Math.random()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got: { id: string; key: string | null; data: any }[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${expected} messages`)), timeoutMs);
    void consumer.run({
      eachMessage: async ({ message }) => {
        const ce = JSON.parse(message.value!.toString());
        expect(message.headers?.ce_id?.toString()).toBe(ce.id);
        got.push({ id: ce.id, key: message.key?.toString() ?? null, data: ce.data });
        if (got.length >= expected) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return got;
}

describe('outbox relay to Kafka', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('publishes every pending event as a structured CloudEvent and marks it sent, once', async () => {
    expect(brokers.length).toBeGreaterThan(0);
    await addEvents(25, 'a');
    const publisher = await createKafkaPublisher({ brokers, clientId: 'facteur-test' });
    closers.push(() => publisher.close());
    expect(await drainOutbox(db.sql, publisher, { batch: 10 })).toBe(25);
    expect(await drainOutbox(db.sql, publisher)).toBe(0);
    const got = await consumeAll(25);
    const ids = await db.sql`select event_id from codex_kb.outbox where sent_at is not null`;
    expect(new Set(got.map((g) => g.id))).toEqual(new Set(ids.map((r) => r.event_id)));
    expect(got.map((g) => g.data.n).sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it('loses nothing while Kafka is down: events stay queued with the error, and go out later', async () => {
    await addEvents(5, 'down');
    const failing: Publisher = { publish: async () => { throw new Error('broker unreachable'); } };
    await expect(drainOutbox(db.sql, failing)).rejects.toThrow('broker unreachable');
    const [row] = await db.sql`select count(*)::int as n, max(last_error) as e from codex_kb.outbox where sent_at is null`;
    expect(row).toEqual({ n: 5, e: 'broker unreachable' });
    await db.sql`update codex_kb.outbox set available_at = now() where sent_at is null`;
    const publisher = await createKafkaPublisher({ brokers, clientId: 'facteur-test-2' });
    closers.push(() => publisher.close());
    expect(await drainOutbox(db.sql, publisher)).toBe(5);
    const [left] = await db.sql`select count(*)::int as n from codex_kb.outbox where sent_at is null`;
    expect(left!.n).toBe(0);
  });

  it('two relays draining at once publish each event once (SKIP LOCKED leases)', async () => {
    await addEvents(60, 'pair');
    const seen: string[] = [];
    const slow = (): Publisher => ({
      publish: async (events) => {
        await new Promise((r) => setTimeout(r, 5));
        seen.push(...events.map((e) => e.eventId));
      },
    });
    const [a, b] = await Promise.all([drainOutbox(db.sql, slow(), { batch: 7 }), drainOutbox(db.sql, slow(), { batch: 7 })]);
    expect(a + b).toBe(60);
    expect(new Set(seen).size).toBe(60);
    expect(seen).toHaveLength(60);
  });
});

describe('intake relays what it wrote right after answering', () => {
  it('an accepted Idea Spec reaches the events topic without waiting for the tick', async () => {
    const { freePort, spawnEntry } = await import('../helpers/spawn.js');
    const { ideaSpec, postEvent } = await import('../helpers/http.js');
    const eventsTopic = `facteur.events.relay.${Date.now()}`;
    const port = await freePort();
    const intake = await spawnEntry('functions/server.ts', {
      FUNCTION_TARGET: 'intake', PORT: String(port), DATABASE_URL: db.url, KAFKA_BROKERS: brokers.join(','), FACTEUR_TOPIC_EVENTS: eventsTopic,
    }, /"msg":"serving"/);
    try {
      const r = await postEvent(`http://127.0.0.1:${port}`, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'relayed' })) });
      expect(r.status).toBe(202);
      const kafka = new Kafka({ clientId: 'relay-test', brokers, logLevel: logLevel.NOTHING });
      const consumer = kafka.consumer({ groupId: `relay-${Date.now()}` });
      await consumer.connect();
      await consumer.subscribe({ topic: eventsTopic, fromBeginning: true });
      const got = await new Promise<any>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no event on the topic')), 15_000);
        void consumer.run({ eachMessage: async ({ message }) => { clearTimeout(timer); resolve(JSON.parse(message.value!.toString())); } });
      });
      await consumer.disconnect();
      expect(got).toMatchObject({ type: 'facteur.idea.registered', data: { ideaId: r.body.ideaId } });
      const [row] = await db.sql`select sent_at from codex_kb.outbox where subject = ${r.body.ideaId}`;
      expect(row!.sent_at).not.toBeNull();
    } finally {
      await intake.stop();
    }
  });
});

describe('an instance whose broker is away at start', () => {
  it('serves at once, keeps the events, and relays once the broker is reachable', async () => {
    const { createConnection, createServer } = await import('node:net');
    const { freePort, spawnEntry } = await import('../helpers/spawn.js');
    const { ideaSpec, postEvent } = await import('../helpers/http.js');
    const [host, brokerPort] = brokers[0]!.split(':') as [string, string];
    // the address the instance is given: nothing listens there until the "broker is back"
    const proxyPort = await freePort();
    const eventsTopic = `facteur.events.late.${Date.now()}`;
    const port = await freePort();
    const intake = await spawnEntry('functions/server.ts', {
      FUNCTION_TARGET: 'intake', PORT: String(port), DATABASE_URL: db.url, KAFKA_BROKERS: `127.0.0.1:${proxyPort}`, FACTEUR_TOPIC_EVENTS: eventsTopic,
    }, /"msg":"serving"/);
    const proxy = createServer((client) => {
      const upstream = createConnection(Number(brokerPort), host);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    try {
      const url = `http://127.0.0.1:${port}`;
      const first = await postEvent(url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'late-broker-1' })) });
      expect(first.status).toBe(202);
      // kept, with why it is not out yet
      for (let i = 0; ; i++) {
        const [row] = await db.sql`select sent_at, last_error from codex_kb.outbox where subject = ${first.body.ideaId}`;
        if (row?.last_error) {
          expect(row.sent_at).toBeNull();
          break;
        }
        if (i > 300) throw new Error('the relay never tried the unreachable broker');
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve));
      const second = await postEvent(url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'late-broker-2' })) });
      expect(second.status).toBe(202);
      const kafka = new Kafka({ clientId: 'late-test', brokers, logLevel: logLevel.NOTHING });
      const consumer = kafka.consumer({ groupId: `late-${Date.now()}` });
      await consumer.connect();
      await consumer.subscribe({ topic: eventsTopic, fromBeginning: true });
      const got = await new Promise<any>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no event on the topic')), 20_000);
        void consumer.run({
          eachMessage: async ({ message }) => {
            const ce = JSON.parse(message.value!.toString());
            if (ce.data?.ideaId === second.body.ideaId) {
              clearTimeout(timer);
              resolve(ce);
            }
          },
        });
      });
      await consumer.disconnect();
      expect(got).toMatchObject({ type: 'facteur.idea.registered' });
    } finally {
      await intake.stop();
      proxy.close();
    }
  }, 60_000);
});
