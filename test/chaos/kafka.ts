// Knative's KafkaSource, played by the harness over the real Kafka protocol (the kcat mock
// cluster): a consumer group reads the topics and delivers every record to a random live
// instance of the sink as a binary-mode CloudEvent, exactly as KafkaSource would, retrying
// what KafkaSource retries (5xx, 404, 409, 429, no answer) with backoff. The redelivery
// fault sends each record 1–5 times, concurrently. Records are produced by the harness
// (ideas, Argo's workflow completions) or by Facteur's outbox relay (facteur.events).
import { createHash } from 'node:crypto';
import { Kafka, logLevel, type Consumer, type KafkaMessage, type Producer } from 'kafkajs';
import type { Fleet } from './fleet.js';
import type { ConsumedRecord, FunctionName, History } from './history.js';
import { backoff, send, sleep } from './net.js';
import { rngFor, type Rng } from './rng.js';

export const RECORD_HEADER = 'x-chaos-record';

/** What KafkaSource retries (its delivery spec: 5xx, 404, 409, 429). */
export function retriable(status: number): boolean {
  return status >= 500 || status === 404 || status === 409 || status === 429;
}

export function kafkaClient(brokers: string, clientId: string): Kafka {
  return new Kafka({ clientId, brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 2000 } });
}

/** Topics exist before anyone subscribes (the mock cluster creates them on a metadata request). */
export async function ensureTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 4 })) }).catch(() => false);
    await admin.fetchTopicMetadata({ topics });
  } finally {
    await admin.disconnect();
  }
}

export class RecordProducer {
  private constructor(private readonly producer: Producer) {}
  static async start(kafka: Kafka): Promise<RecordProducer> {
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    return new RecordProducer(producer);
  }
  /** Resolves when the broker acknowledged (a paused broker: when it is back). */
  async produce(topic: string, m: { key?: string; value: string | Buffer | Uint8Array; headers: Record<string, string> }): Promise<void> {
    await this.producer.send({ topic, acks: -1, messages: [{ key: m.key ?? null, value: Buffer.from(m.value), headers: m.headers }] });
  }
  close(): Promise<void> {
    return this.producer.disconnect();
  }
}

export interface SourceOptions {
  /** The KafkaSource's name: part of `ce-source`. */
  readonly name: string;
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly sink: FunctionName;
  readonly kafka: Kafka;
  readonly fleet: Fleet;
  readonly history: History;
  readonly seed: number;
  /** Concurrent deliveries of one consumed record (1 = no redelivery fault). */
  readonly copies: (rng: Rng) => number;
  /** Records of Facteur's own topic are CloudEvents already: KafkaSource forwards the event. */
  readonly ownEvents?: boolean;
}

function headerText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (Array.isArray(v)) return headerText(v[0]);
  return String(v);
}

export class KafkaSourceDouble {
  private consumer: Consumer | undefined;
  private stopped = false;
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly o: SourceOptions) {}

  async start(): Promise<void> {
    const consumer = this.o.kafka.consumer({ groupId: this.o.groupId, sessionTimeout: 15_000, heartbeatInterval: 1000, maxWaitTimeInMs: 50, retry: { retries: 1000, initialRetryTime: 100, maxRetryTime: 2000 } });
    this.consumer = consumer;
    const joined = new Promise<void>((resolve) => {
      const off = consumer.on(consumer.events.GROUP_JOIN, () => {
        off();
        resolve();
      });
    });
    await consumer.connect();
    for (const topic of this.o.topics) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: 4,
      eachMessage: async ({ topic, partition, message }) => {
        this.onRecord(topic, partition, message);
      },
    });
    await Promise.race([joined, sleep(30_000)]); // consuming from here on
  }

  /** Deliveries still retrying. */
  get pending(): number {
    return this.inflight.size;
  }

  private onRecord(topic: string, partition: number, message: KafkaMessage): void {
    const h = this.o.history;
    const key = `${topic}/${partition}/${message.offset}`;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(message.headers ?? {})) {
      const t = headerText(v);
      if (t !== undefined) headers[k] = t;
    }
    let rec = h.records.get(key);
    const consumption = rec ? rec.consumptions + 1 : 1;
    const rng = rngFor(this.o.seed, 'deliver', key, consumption);
    const copies = Math.max(1, this.o.copies(rng));
    if (copies > 1) h.fault('redelivery', copies - 1);
    let eventId: string | undefined;
    if (this.o.ownEvents) {
      eventId = this.recordEvent(headers, message);
    } else {
      const recordId = headers[RECORD_HEADER];
      if (!rec) {
        rec = {
          key, topic, partition, offset: message.offset, recordId, tag: recordId ? h.produced.get(recordId)?.tag : undefined,
          consumptions: 0, copies: 0, answers: [], unresolved: 0,
        } satisfies ConsumedRecord;
        h.records.set(key, rec);
      }
      rec.consumptions = consumption;
      rec.copies += copies;
    }
    const request = this.requestFor(topic, partition, message, headers, rng);
    for (let copy = 0; copy < copies; copy++) {
      const p = this.deliver(key, eventId, request, copy, rngFor(this.o.seed, 'deliver', key, consumption, copy)).finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    }
  }

  /** Records a facteur.events record; returns its CloudEvent id. */
  private recordEvent(headers: Record<string, string>, message: KafkaMessage): string {
    const value = message.value?.toString('utf8') ?? '';
    let ceId = headers['ce_id'];
    let type = headers['ce_type'] ?? '';
    try {
      const ce = JSON.parse(value) as { id?: string; type?: string };
      ceId ??= ce.id;
      type ||= ce.type ?? '';
    } catch {
      // kept with its hash
    }
    const id = ceId ?? `no-id:${createHash('sha256').update(value).digest('hex')}`;
    const seen = this.o.history.events.get(id) ?? { ceId: id, type, contents: new Set<string>(), count: 0, delivered: 0 };
    seen.count++;
    seen.contents.add(createHash('sha256').update(value).digest('hex'));
    this.o.history.events.set(id, seen);
    return id;
  }

  private requestFor(topic: string, partition: number, message: KafkaMessage, headers: Record<string, string>, rng: Rng): { headers: Record<string, string>; body: Buffer } {
    const value = message.value ?? Buffer.alloc(0);
    const time = new Date(Number(message.timestamp) || Date.now()).toISOString();
    if (this.o.ownEvents && rng.chance(0.5)) {
      // the record is a structured CloudEvent: forwarded as that event, in binary mode
      try {
        const ce = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
        const out: Record<string, string> = { 'content-type': String(ce.datacontenttype ?? 'application/json') };
        for (const [k, v] of Object.entries(ce)) {
          if (k === 'data' || k === 'data_base64' || k === 'datacontenttype') continue;
          if (typeof v === 'string') out[`ce-${k}`] = v;
        }
        return { headers: out, body: Buffer.from(JSON.stringify(ce.data ?? null)) };
      } catch {
        // not JSON: deliver the record as it is
      }
    }
    const out: Record<string, string> = {
      'ce-specversion': '1.0',
      'ce-type': 'dev.knative.kafka.event',
      'ce-source': `/apis/v1/namespaces/facteur/kafkasources/${this.o.name}#${topic}`,
      'ce-subject': `partition:${partition}#${message.offset}`,
      'ce-id': `partition:${partition}/offset:${message.offset}`,
      'ce-time': time,
      'content-type': this.o.ownEvents ? 'application/json' : (headers['content-type'] ?? 'application/json'),
    };
    const key = message.key?.toString('utf8');
    if (key) out['ce-key'] = key;
    for (const [k, v] of Object.entries(headers)) {
      if (k === 'content-type') continue;
      out[`ce-kafkaheader${k.toLowerCase().replace(/[^a-z0-9]/g, '')}`] = v;
    }
    return { headers: out, body: value };
  }

  private async deliver(key: string, eventId: string | undefined, request: { headers: Record<string, string>; body: Buffer }, copy: number, rng: Rng): Promise<void> {
    const h = this.o.history;
    await sleep(rng.int(0, 30)); // the copies race each other
    for (let attempt = 1; ; attempt++) {
      if (this.stopped) {
        const rec = h.records.get(key);
        if (rec) rec.unresolved++;
        return;
      }
      const inst = await this.o.fleet.route(this.o.sink, rng, 5000);
      if (!inst) continue;
      try {
        const r = await send(inst.url, { path: '/', headers: request.headers, body: request.body, timeoutMs: 30_000 });
        h.status(`${this.o.sink}<-kafkasource:${this.o.name}`, r.status);
        if (retriable(r.status)) {
          await sleep(backoff(attempt, 50, 2000, rng.next));
          continue;
        }
        if (eventId !== undefined) {
          const ev = h.events.get(eventId);
          if (ev && r.status < 300) ev.delivered++;
        } else {
          h.records.get(key)?.answers.push({ copy, status: r.status, body: r.json ?? r.text, attempts: attempt, at: Date.now() });
        }
        return;
      } catch {
        h.status(`${this.o.sink}<-kafkasource:${this.o.name}`, 'net');
        await sleep(backoff(attempt, 50, 2000, rng.next));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.consumer?.disconnect().catch(() => {});
    await Promise.allSettled([...this.inflight]);
  }
}
