// The PingSources, doubled: the tick every ~second to one dispatch instance, and the daily
// fine-tune trigger (triggers/ping-kb-finetune.yaml) — fired here every few seconds at EVERY
// live dispatch instance at once, two copies each (a PingSource delivers at least once, and a
// scaled-out dispatch may receive it on any replica), so the trigger's once-a-day promise is
// tested under the contention it must survive. Each answer that says it fired is recorded: the
// kb_finetune_once invariant checks them against the database.
import { randomUUID } from 'node:crypto';
import type { Fleet } from './fleet.js';
import type { History } from './history.js';
import { send, sleep } from './net.js';
import { rngFor } from './rng.js';

const pingHeaders = (source: string) => ({
  'ce-specversion': '1.0', 'ce-type': 'dev.knative.sources.ping', 'ce-source': `/apis/v1/namespaces/facteur/pingsources/${source}`,
  'ce-id': randomUUID(), 'ce-time': new Date().toISOString(), 'content-type': 'application/json',
});

/** The PingSource: a tick CloudEvent to a random dispatch instance every ~second. */
export function startTicker(fleet: Fleet, h: History, seed: number, everyMs: number): { stop(): Promise<void> } {
  let stopped = false;
  const inflight = new Set<Promise<void>>();
  const rng = rngFor(seed, 'tick');
  const loop = (async () => {
    while (!stopped) {
      await sleep(everyMs * (0.8 + 0.4 * rng.next()));
      if (stopped || inflight.size >= 4) continue;
      const inst = fleet.pick('dispatch', rng);
      if (!inst) continue;
      const p = send(inst.url, { path: '/tick', headers: pingHeaders('facteur-tick'), body: '{"kind":"tick"}', timeoutMs: 60_000 })
        .then((r) => h.status('dispatch<-ping', r.status), () => h.status('dispatch<-ping', 'net'))
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await Promise.allSettled([...inflight]);
    },
  };
}

export interface FinetunePings {
  /** One volley now: two requests to every live dispatch instance, all at once; resolves when all answered. */
  volley(): Promise<void>;
  stop(): Promise<void>;
}

/** The fine-tune PingSource under contention: a volley every ~`everyMs`. */
export function startFinetunePings(fleet: Fleet, h: History, seed: number, everyMs = 5000): FinetunePings {
  let stopped = false;
  const rng = rngFor(seed, 'finetune');
  const volley = async () => {
    const live = fleet.of('dispatch').filter((i) => i.up);
    h.finetune.volleys++;
    await Promise.allSettled(live.flatMap((inst) => [0, 1].map(() =>
      send(inst.url, { path: '/kb/finetune', headers: pingHeaders('facteur-kb-finetune'), body: '{"kind":"kb-finetune"}', timeoutMs: 60_000 }).then(
        (r) => {
          h.status('dispatch<-finetune', r.status);
          const fired = (r.json as { requested?: { day?: string; eventId?: string } | null } | undefined)?.requested;
          if (r.status === 200 && fired?.eventId) h.finetune.fired.push({ day: String(fired.day), eventId: fired.eventId, instance: inst.name });
        },
        () => h.status('dispatch<-finetune', 'net'),
      ))));
  };
  const loop = (async () => {
    while (!stopped) {
      await sleep(everyMs * (0.8 + 0.4 * rng.next()));
      if (!stopped) await volley();
    }
  })();
  return {
    volley,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
