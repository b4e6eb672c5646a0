// The feed: outbox rows past a notifier's cursor become ledger rows, in transaction order
// (migrations/0016 says why `xact_id` and not `id`, and what the horizon counts). One
// instance reads a notifier's feed at a time (its cursor row, locked with SKIP LOCKED: the
// other skips the turn); a row read twice all the same (a crash before the cursor moved)
// finds its delivery already there (`on conflict do nothing`), so an event is one delivery
// per notifier, however often read.
import type { Sql, Tx } from '../db/index.js';
import { transaction } from '../db/index.js';
import { planDiscord, planGitHub, type FeedEvent, type Notifier, type Planned } from './classify.js';

const BATCH = 500;
/** What a notifier switched on announces of the past. */
export const FIRST_RUN_LOOKBACK_MIN = 15;

interface Cursor {
  xact_id: string;
  outbox_id: string;
}

/** Reads the notifier's feed up to the current horizon; the number of deliveries created. */
export async function readFeed(sql: Sql, notifier: Notifier): Promise<number> {
  // The first run starts with the events of the last minutes (those written while the
  // process that switched the notifier on was starting), not with the whole history.
  await sql`
    insert into codex_kb.notify_cursors (notifier, xact_id, outbox_id)
    select ${notifier}, coalesce(
             (select min(xact_id) from codex_kb.outbox
               where xact_id is not null and created_at >= now() - make_interval(mins => ${FIRST_RUN_LOOKBACK_MIN})),
             codex_kb.notify_horizon()), 0
    on conflict (notifier) do nothing`;
  let created = 0;
  for (;;) {
    const step = await transaction(sql, [], async (tx) => {
      const [cursor] = await tx<Cursor[]>`
        select xact_id::text, outbox_id::text from codex_kb.notify_cursors where notifier = ${notifier} for update skip locked`;
      if (!cursor) return { read: 0, created: 0 };
      const rows = await tx<{ id: string; xact_id: string; event_id: string; type: string; data: unknown }[]>`
        select id::text, xact_id::text, event_id::text, type, data from codex_kb.outbox
         where xact_id is not null
           and (xact_id, id) > (${cursor.xact_id}::xid8, ${cursor.outbox_id}::bigint)
           and xact_id < codex_kb.notify_horizon()
         order by xact_id, id
         limit ${BATCH}`;
      const last = rows.at(-1);
      if (!last) return { read: 0, created: 0 };
      const events: FeedEvent[] = rows.map((r) => ({ eventId: r.event_id, type: r.type, data: r.data }));
      const planned = notifier === 'github' ? await planForGitHub(tx, events) : events.map(planDiscord).filter((p) => p !== undefined);
      const n = await insertDeliveries(tx, planned);
      await tx`
        update codex_kb.notify_cursors set xact_id = ${last.xact_id}::xid8, outbox_id = ${last.id}::bigint, updated_at = now()
         where notifier = ${notifier}`;
      return { read: rows.length, created: n };
    });
    created += step.created;
    if (step.read < BATCH) break;
  }
  if (notifier === 'github') created += await sweepMovedIdeas(sql);
  return created;
}

/** GitHub deliveries for the ideas that came from an issue (the others have nowhere to comment). */
async function planForGitHub(tx: Tx, events: readonly FeedEvent[]): Promise<Planned[]> {
  const candidates = events.map(planGitHub).filter((p) => p !== undefined);
  const ideaIds = [...new Set(candidates.map((c) => c.ideaId).filter((id): id is string => id !== null))];
  const issues = new Map<string, string>();
  if (ideaIds.length > 0) {
    const rows = await tx<{ id: string; repository: string }[]>`
      select id::text, repository from codex_kb.ideas
       where id = any(${ideaIds}::uuid[]) and source_type = 'github_issue' and issue_number is not null`;
    for (const r of rows) issues.set(r.id, r.repository);
  }
  const out: Planned[] = [];
  for (const c of candidates) {
    const repository = c.ideaId ? issues.get(c.ideaId) : c.repository;
    if (repository) out.push({ ...c, repository, scope: repository });
  }
  return out;
}

async function insertDeliveries(tx: Tx, planned: readonly Planned[]): Promise<number> {
  if (planned.length === 0) return 0;
  const rows = planned.map((p) => ({
    notifier: p.notifier, event_id: p.eventId, event_type: p.eventType, subject: p.subject.slice(0, 600),
    idea_id: p.ideaId, repository: p.repository, data: p.data, scope: p.scope,
  }));
  const inserted = await tx`
    with input as (
      select * from jsonb_to_recordset(${tx.json(rows as never)})
        as x(notifier text, event_id uuid, event_type text, subject text, idea_id uuid, repository text, data jsonb, scope text)
    ), subjects as (
      insert into codex_kb.notify_subjects (notifier, subject, scope)
      select distinct notifier, subject, scope from input
      on conflict (notifier, subject) do nothing
    )
    insert into codex_kb.notify_deliveries (notifier, event_id, event_type, subject, idea_id, repository, data)
    select notifier, event_id, event_type, subject, idea_id, repository, data from input
    on conflict (notifier, event_id) do nothing
    returning event_id`;
  return inserted.length;
}

/**
 * Ideas also move without an outbox event (a monitoring window that ends in the tick, an
 * operator's pause): an open status comment whose idea moved since it was rendered gets a
 * delivery too, its event id derived from the move, so two instances sweeping at once make
 * one. Ideas with a delivery still pending are left alone (that delivery renders the move).
 */
async function sweepMovedIdeas(sql: Sql): Promise<number> {
  const rows = await sql`
    insert into codex_kb.notify_deliveries (notifier, event_id, event_type, subject, idea_id, repository)
    select 'github', md5(c.idea_id::text || ':' || i.last_progress_at::text)::uuid, 'facteur.idea.moved',
           'idea:' || c.idea_id::text, c.idea_id, c.repository
      from codex_kb.github_status_comments c join codex_kb.ideas i on i.id = c.idea_id
     where c.open and c.rendered_progress_at is not null and i.last_progress_at > c.rendered_progress_at
       and not exists (select 1 from codex_kb.notify_deliveries d
                        where d.notifier = 'github' and d.subject = 'idea:' || c.idea_id::text and d.state = 'pending')
    on conflict (notifier, event_id) do nothing
    returning event_id`;
  return rows.length;
}
