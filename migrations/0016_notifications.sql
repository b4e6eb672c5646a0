-- Notifications (shared/notify): GitHub status comments and commit statuses, Discord
-- messages, driven from the outbox and never blocking the lifecycle.
--
-- The feed. Each notifier reads the outbox in the order of the transactions that wrote it:
-- a row's `xact_id` is its transaction's id, and every transaction older than
-- pg_snapshot_xmin(pg_current_snapshot()) has ended, so the rows below that horizon can no
-- longer change. A cursor on the identity `id` alone would skip a row whose transaction took
-- its id first and committed last. Adding the column without a default rewrites nothing;
-- the default set afterwards applies to new rows only. Older rows (null) predate the
-- notifiers and are never notified.
alter table codex_kb.outbox add column xact_id xid8;
alter table codex_kb.outbox alter column xact_id set default pg_current_xact_id();
create index outbox_xact_idx on codex_kb.outbox (xact_id, id) where xact_id is not null;

-- The feed's horizon: the oldest transaction still running that could write this database's
-- outbox, or the next transaction id when there is none. pg_snapshot_xmin alone counts every
-- database of the server (one long transaction next door would stall the feed); a running
-- transaction known to belong to a backend connected to another database is left out (it
-- cannot write here). One whose owner cannot be seen (no privilege to read it, a prepared
-- transaction) is counted: that only delays, never skips. Evaluated in the statement that
-- reads the outbox, so it agrees with that statement's snapshot.
create function codex_kb.notify_horizon() returns xid8
language sql stable as $$
  with snap as (select pg_current_snapshot() as s)
  select least(pg_snapshot_xmax(snap.s), (
           select min(x) from pg_snapshot_xip(snap.s) as x
            where not exists (select 1 from pg_stat_activity a
                               where a.backend_xid = xid(x) and a.datname is distinct from current_database())))
    from snap
$$;

-- How far each notifier has read the feed: the last (xact_id, id) it turned into deliveries.
-- The row is created at the notifier's first run, just before the events of the last few
-- minutes: switching a notifier on announces what happens from then on, not the history.
create table codex_kb.notify_cursors (
  notifier text primary key check (notifier in ('github', 'discord')),
  xact_id xid8 not null,
  outbox_id bigint not null default 0,
  updated_at timestamptz not null default now()
);

-- The delivery ledger: one row per notifier and event, however often the event is read.
-- `subject` is what the delivery updates (`idea:<uuid>` — the idea's status comment,
-- `issue:<owner/name>#<n>` — a comment of its own, `webhook` — the Discord channel);
-- deliveries of one subject are sent by one instance at a time (notify_subjects).
create table codex_kb.notify_deliveries (
  seq bigint generated always as identity unique,
  notifier text not null check (notifier in ('github', 'discord')),
  event_id uuid not null,
  event_type text not null,
  subject text not null check (length(subject) between 1 and 600),
  idea_id uuid,
  repository text,
  data jsonb not null default '{}',
  state text not null default 'pending' check (state in ('pending', 'sent', 'failed')),
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz not null default now(),
  last_error text,
  -- what the remote side calls it: the comment id, the Discord message id
  remote_id text,
  created_at timestamptz not null default now(),
  sent_at timestamptz,
  primary key (notifier, event_id)
);
create index notify_deliveries_due_idx on codex_kb.notify_deliveries (notifier, next_attempt_at) where state = 'pending';
create index notify_deliveries_subject_idx on codex_kb.notify_deliveries (notifier, subject, seq) where state = 'pending';
create index notify_deliveries_listing_idx on codex_kb.notify_deliveries (state, seq desc);

-- One row per subject: its lease (who is sending for it, until when) and its rate-limit scope.
create table codex_kb.notify_subjects (
  notifier text not null,
  subject text not null,
  scope text not null,
  leased_until timestamptz,
  lease_owner text,
  primary key (notifier, subject)
);

-- Per scope (a repository on GitHub, the webhook on Discord): nothing is sent before
-- not_before — the pacing between requests, or the wait a rate limit asked for.
create table codex_kb.notify_scopes (
  notifier text not null,
  scope text not null,
  not_before timestamptz not null,
  reason text,
  primary key (notifier, scope)
);

-- The idea's status comment on its issue: its id once created, what it last said (so an
-- unchanged body is not sent again), the commit statuses posted per head, and whether the
-- idea was still open at the last render (open ones are re-rendered when they move without
-- an outbox event, e.g. when a monitoring window ends).
create table codex_kb.github_status_comments (
  idea_id uuid primary key references codex_kb.ideas (id),
  repository text not null,
  issue_number bigint not null,
  comment_id bigint,
  body_digest text,
  statuses jsonb not null default '{}',
  open boolean not null default true,
  rendered_progress_at timestamptz,
  updated_at timestamptz not null default now()
);
create index github_status_comments_open_idx on codex_kb.github_status_comments (idea_id) where open;
