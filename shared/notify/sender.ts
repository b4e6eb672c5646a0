// What the worker needs of a notifier: how it sends a subject's due deliveries. A send
// throws our errors (shared/errors): RetryableError (with `retryAfterMs` when the remote side
// said how long to wait: a rate limit), anything else means the deliveries cannot be sent as
// they stand and are marked failed. `lease.hold()` comes just before every request that
// changes something remote: it renews the subject's lease, or throws LeaseLost when another
// instance holds it now (then the send stops; that instance sends).
import type { Notifier } from './classify.js';
import type { Delivery } from './ledger.js';

export interface Sender {
  readonly notifier: Notifier;
  /** All of a subject's due deliveries in one send (they render one state), or one at a time. */
  readonly coalesce: boolean;
  /** The least time between two sends in one scope. */
  readonly minIntervalMs: number;
  send(subject: string, deliveries: readonly Delivery[], lease: Lease): Promise<{ remoteId: string | null }>;
}

export interface Lease {
  hold(): Promise<void>;
}
