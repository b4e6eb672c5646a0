// The notifiers under fire: while faults are on, the FAKE GitHub goes down (every request
// answered 502) for a second or three every ~15 s, on top of the instance kills and database
// restarts every dispatch instance (where the notifiers run) lives through.
import type { FakeRemotes } from '../notify/fake-remotes.js';
import type { History } from './history.js';
import { sleep } from './net.js';
import { rngFor } from './rng.js';

export function startOutages(remotes: FakeRemotes, h: History, seed: number): { stop(): Promise<void> } {
  const r = rngFor(seed, 'github-outage');
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await sleep(r.int(8_000, 22_000));
      if (stopped) break;
      remotes.down = true;
      h.fault('github_outage');
      await sleep(r.int(1_000, 3_000));
      remotes.down = false;
    }
  })();
  return {
    async stop() {
      stopped = true;
      remotes.down = false;
      await loop;
    },
  };
}
