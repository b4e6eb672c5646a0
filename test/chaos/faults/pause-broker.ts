// Pause the Kafka-protocol broker (SIGSTOP the kcat process hosting the mock cluster, then
// SIGCONT): producers, the outbox relay and the KafkaSource doubles all stall; nothing the
// broker holds is lost, which killing the mock cluster would do.
import { sleep } from '../net.js';
import type { ScheduledFault } from './index.js';

export const pauseBroker: ScheduledFault = {
  name: 'pause_broker',
  weight: 1,
  exclusive: true,
  async inject(ctx, rng) {
    ctx.history.fault('pause_broker');
    const w = ctx.history.open('broker', 'SIGSTOP');
    ctx.broker.pause();
    try {
      await sleep(rng.int(500, 3000));
    } finally {
      ctx.broker.resume();
      w.end = Date.now();
    }
  },
};
