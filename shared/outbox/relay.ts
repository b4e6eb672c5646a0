// A relay that any function may nudge after it committed events: the outbox is drained in
// the background, one drain at a time, a new drain starting if nudged meanwhile. Events
// written by intake or callbacks reach Kafka (and dispatch) within milliseconds instead of
// at the next minute tick — which stays the backstop when a nudge is lost.
import type { Sql } from '../db/index.js';
import { coalesced } from '../background/coalesce.js';
import type { Logger } from '../log/index.js';
import { drainOutbox, type Publisher } from './index.js';

export interface Relay {
  nudge(): void;
  /** Resolves when no drain is running or pending. */
  idle(): Promise<void>;
}

export function createRelay(sql: Sql, publisher: Publisher, log: Logger): Relay {
  return coalesced(() => drainOutbox(sql, publisher), log, 'outbox relay failed; the tick will retry');
}
