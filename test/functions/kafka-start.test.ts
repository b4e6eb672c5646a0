// An instance with KAFKA_BROKERS set (as every function runs in a cluster) does not load
// kafkajs nor reach the brokers to start: its first publish does (shared/outbox/lazy-kafka.ts),
// after the request that wrote the event was answered. The brokers are the real Kafka-protocol
// broker, behind a TCP relay here that counts the connections made to it. Run on the
// container's command, the bundle.
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureImage } from '../helpers/build.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { ideaSpec, postEvent } from '../helpers/http.js';
import { freePort, spawnEntry, type Child } from '../helpers/spawn.js';

const [brokerHost, brokerPort] = (process.env.KAFKA_BROKERS ?? '').split(',')[0]!.split(':');
let db: TestDb;
let relay: Server;
let connections = 0;
const sockets = new Set<Socket>();
let intake: Child | undefined;

beforeAll(async () => {
  db = await createTestDb();
  ensureImage();
  relay = createServer((client) => {
    connections++;
    const broker = tcpConnect(Number(brokerPort), brokerHost);
    for (const s of [client, broker]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(broker).pipe(client);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
}, 120_000);

afterAll(async () => {
  await intake?.stop();
  for (const s of sockets) s.destroy();
  await new Promise((r) => relay.close(r));
});

describe('the Kafka publisher of a function', () => {
  it('is not loaded nor connected at start, and publishes the first event written', async () => {
    expect(brokerPort, 'KAFKA_BROKERS').toBeTruthy();
    const port = await freePort();
    const address = relay.address() as { port: number };
    intake = await spawnEntry('dist/image/server.js', {
      FUNCTION_TARGET: 'intake', PORT: String(port), DATABASE_URL: db.url, KAFKA_BROKERS: `127.0.0.1:${address.port}`,
    }, /"msg":"serving"/);
    const url = `http://127.0.0.1:${port}`;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(connections).toBe(0);

    const r = await postEvent(url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'lazy-kafka-1' })) });
    expect(r.status).toBe(202);
    // relayed after the answer: through the real broker, every event the idea wrote marked sent
    const unsent = async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from codex_kb.outbox where sent_at is null`)[0]!.n;
    let pending = await unsent();
    for (let i = 0; i < 150 && pending > 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      pending = await unsent();
    }
    expect(pending).toBe(0);
    const [sent] = await db.sql<{ n: number }[]>`select count(*)::int as n from codex_kb.outbox where sent_at is not null`;
    expect(sent!.n).toBeGreaterThan(0);
    expect(connections).toBeGreaterThan(0);
  }, 60_000);
});
