// Live hints for open dashboard pages. Migration 0013's triggers NOTIFY facteur_changes with
// the idea's id when an idea, task or run changes state; one listening connection per
// instance (postgres.js `sql.listen`: a dedicated connection, re-listened after it drops)
// fans them out to the Server-Sent Events streams of this instance. A hint only: pages
// re-read what they show, so a lost or doubled hint never shows a wrong state. After the
// listening connection came back, every stream is told to resync (what changed while it was
// down is not known).
//
// Local mode's embedded PGlite serves one connection, shared by the pool: a second one for
// LISTEN is refused. There the hub polls codex_kb.change_seq (moved on by the same triggers)
// and wakes every stream when it moved: the same hint, less precise, at most `pollMs` late.
import type { Sql } from '../db/index.js';
import type { StreamSink } from '../http/index.js';
import type { Logger } from '../log/index.js';
import { messageOf } from '../errors/index.js';

export const CHANNEL = 'facteur_changes';
/** A payload meaning "anything may have changed". */
export const ANY = '*';

export type Hint = (ideaId: string) => void;

export interface LiveHub {
  /** Calls `fn` with each hint until the returned function is called. Starts listening on first use. */
  subscribe(fn: Hint): () => void;
  readonly mode: 'listen' | 'poll';
  /** Streams open on this instance. */
  size(): number;
}

export interface LiveOptions {
  readonly sql: Sql;
  readonly log: Logger;
  readonly mode: 'listen' | 'poll';
  readonly pollMs?: number;
}

export function createLiveHub(opts: LiveOptions): LiveHub {
  const subscribers = new Set<Hint>();
  let started = false;
  let listens = 0;
  let timer: NodeJS.Timeout | undefined;
  const fanOut = (id: string) => {
    for (const fn of subscribers) fn(id);
  };

  const startListening = () => {
    opts.sql
      .listen(CHANNEL, (payload) => fanOut(payload || ANY), () => {
        // called at the first LISTEN and again after every reconnect: anything may have
        // happened while the connection was down
        if (listens++ > 0) {
          opts.log.info('dashboard: listening connection back; pages resync');
          fanOut(ANY);
        }
      })
      .catch((err: unknown) => {
        opts.log.warn('dashboard: LISTEN failed; retrying in 1 s', { error: messageOf(err) });
        started = false;
        setTimeout(() => subscribers.size && start(), 1000).unref();
      });
  };

  const startPolling = () => {
    let last: string | undefined;
    const poll = async () => {
      try {
        const [row] = await opts.sql<{ v: string }[]>`select last_value::text as v from codex_kb.change_seq`;
        if (last !== undefined && row!.v !== last) fanOut(ANY);
        last = row!.v;
      } catch (err) {
        opts.log.debug('dashboard: change poll failed', { error: messageOf(err) });
      }
      timer = subscribers.size ? setTimeout(poll, opts.pollMs ?? 250) : undefined;
      timer?.unref();
      if (!timer) started = false;
    };
    void poll();
  };

  const start = () => {
    if (started) return;
    started = true;
    if (opts.mode === 'listen') startListening();
    else startPolling();
  };

  return {
    mode: opts.mode,
    size: () => subscribers.size,
    subscribe(fn) {
      subscribers.add(fn);
      start();
      return () => subscribers.delete(fn);
    },
  };
}

/**
 * One page's stream: `change` events for its idea (or any, for `*`), a comment every
 * `heartbeatMs` so proxies keep the connection and the browser notices a dead one, until the
 * client leaves.
 */
export async function eventStream(hub: LiveHub, topic: string, sink: StreamSink, heartbeatMs = 15_000): Promise<void> {
  sink.write(`retry: 1000\n: ${hub.mode}\n\n`);
  let seq = 0;
  const unsubscribe = hub.subscribe((id) => {
    if (topic !== ANY && id !== ANY && id !== topic) return;
    sink.write(`id: ${++seq}\nevent: ${id === ANY && topic !== ANY ? 'resync' : 'change'}\ndata: ${id}\n\n`);
  });
  const beat = setInterval(() => sink.write(`: heartbeat ${Date.now()}\n\n`), heartbeatMs);
  try {
    await new Promise<void>((resolve) => {
      if (sink.signal.aborted) return resolve();
      sink.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    clearInterval(beat);
    unsubscribe();
  }
}
