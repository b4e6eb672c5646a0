// The transactional outbox relay: events written in the transaction that caused them are
// published afterwards and marked sent. A batch is leased (claimed with SKIP LOCKED and
// hidden for a while) before publishing, so no transaction stays open across the network
// call and several relays share the work. A crash between publish and mark publishes again
// (at least once); consumers dedupe on the event id, which never changes.
import type { Sql } from '../db/index.js';

export interface OutboxEvent {
  readonly id: string;
  readonly eventId: string;
  readonly type: string;
  readonly source: string;
  readonly subject: string | null;
  readonly topic: string;
  readonly key: string | null;
  readonly data: unknown;
  readonly traceContext: string | null;
  readonly time: string;
}

/** Publishes a batch; throws if the batch was not accepted (nothing is marked sent). */
export interface Publisher {
  publish(events: readonly OutboxEvent[]): Promise<void>;
}

const LEASE_SECONDS = 60;

export async function drainOutbox(sql: Sql, publisher: Publisher, opts: { batch?: number; maxBatches?: number } = {}): Promise<number> {
  const batch = opts.batch ?? 100;
  let total = 0;
  for (let i = 0; i < (opts.maxBatches ?? 10); i++) {
    const rows = await sql<{ id: string; event_id: string; type: string; source: string; subject: string | null; topic: string; key: string | null; data: unknown; trace_context: string | null; created_at: Date }[]>`
      update codex_kb.outbox o set available_at = now() + make_interval(secs => ${LEASE_SECONDS}), attempts = o.attempts + 1
        from (select id from codex_kb.outbox where sent_at is null and available_at <= now()
               order by id limit ${batch} for update skip locked) next
       where o.id = next.id
      returning o.id, o.event_id, o.type, o.source, o.subject, o.topic, o.key, o.data, o.trace_context, o.created_at`;
    if (rows.length === 0) break;
    rows.sort((a, b) => Number(a.id) - Number(b.id));
    const ids = rows.map((r) => r.id);
    try {
      await publisher.publish(rows.map((r) => ({
        id: r.id, eventId: r.event_id, type: r.type, source: r.source, subject: r.subject, topic: r.topic,
        key: r.key, data: r.data, traceContext: r.trace_context, time: r.created_at.toISOString(),
      })));
    } catch (err) {
      await sql`
        update codex_kb.outbox set last_error = ${String((err as Error).message).slice(0, 500)},
               available_at = now() + make_interval(secs => least(300, power(2, attempts)::int))
         where id = any(${ids}::bigint[])`;
      throw err;
    }
    await sql`update codex_kb.outbox set sent_at = now(), last_error = null where id = any(${ids}::bigint[])`;
    total += rows.length;
    if (rows.length < batch) break;
  }
  return total;
}
