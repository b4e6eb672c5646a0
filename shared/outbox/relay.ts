// A relay that any function may nudge after it committed events: the outbox is drained in
// the background, one drain at a time, a new drain starting if nudged meanwhile. Events
// written by intake or callbacks reach Kafka (and dispatch) within milliseconds instead of
// at the next minute tick — which stays the backstop when a nudge is lost.
import type { Sql } from '../db/index.js';
import { messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { drainOutbox, type Publisher } from './index.js';

export interface Relay {
  nudge(): void;
  /** Resolves when no drain is running or pending. */
  idle(): Promise<void>;
}

export function createRelay(sql: Sql, publisher: Publisher, log: Logger): Relay {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): Promise<void> =>
    drainOutbox(sql, publisher)
      .then(() => undefined)
      .catch((err) => log.warn('outbox relay failed; the tick will retry', { error: messageOf(err) }))
      .then(() => {
        if (again) {
          again = false;
          return run();
        }
        running = undefined;
      });
  return {
    nudge() {
      if (running) again = true;
      else running = run();
    },
    async idle() {
      while (running) await running;
    },
  };
}
