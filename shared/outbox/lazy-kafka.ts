// The Kafka publisher of a function's process, loaded when it first publishes. kafkajs is the
// largest module an instance would otherwise compile before its first answer (about 280 KB
// bundled), and its producer began connecting to the brokers there too, whenever KAFKA_BROKERS
// is set — as every function runs in a cluster. Nothing waits for it: the outbox keeps each
// event, and the relay publishes it after the request that wrote it was answered
// (shared/outbox/relay.ts), or the tick does. (test/functions/kafka-start.test.ts)
import type { Publisher } from './index.js';
import type { KafkaPublisher } from './kafka.js';

export function lazyKafkaPublisher(opts: { brokers: readonly string[]; clientId: string }): KafkaPublisher {
  let loading: Promise<KafkaPublisher> | undefined;
  const load = () =>
    (loading ??= import('./kafka.js').then((m) => m.createKafkaPublisher(opts)).catch((err: unknown) => {
      loading = undefined; // the next publish tries again
      throw err;
    }));
  return {
    publish: async (events: Parameters<Publisher['publish']>[0]) => (await load()).publish(events),
    // never loaded, never connected: nothing to close
    close: async () => {
      if (loading) await (await loading.catch(() => undefined))?.close();
    },
  };
}
