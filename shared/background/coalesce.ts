// Background work that callers nudge after they committed something: one run at a time,
// one more after it when nudged meanwhile (however often), never awaited by the nudger.
// A failed run is logged and left to the next nudge or the periodic tick, which is the
// backstop for whatever a lost nudge would have done.
import { messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';

export interface Coalesced {
  nudge(): void;
  /** Resolves when no run is going or pending. */
  idle(): Promise<void>;
}

export function coalesced(work: () => Promise<unknown>, log: Logger, failure: string): Coalesced {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): Promise<void> =>
    work()
      .then(() => undefined)
      .catch((err) => log.warn(failure, { error: messageOf(err) }))
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
