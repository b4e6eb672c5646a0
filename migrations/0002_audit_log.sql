-- The audit log: append-only in the database and tamper-evident.
--
-- Every entry carries a hash of its own content (computed here, by a trigger, so a writer
-- cannot supply a wrong one). Entries are then sealed in batches by codex_kb.audit_seal():
-- a seal covers every entry written by transactions with ids in [prev_horizon, horizon),
-- where horizon is the oldest transaction still running, so no later commit can ever add
-- an entry inside a sealed range. Seals form a hash chain. Inserts never wait on the
-- sealer or on each other: there is no global lock on the write path.
create table codex_kb.audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  actor text not null,
  action text not null,
  subject_type text not null,
  subject_id text not null,
  idea_id uuid,
  details jsonb not null default '{}',
  trace_id text,
  xact_id xid8 not null default pg_current_xact_id(),
  row_hash bytea not null default '\x'
);
create index audit_log_xact_idx on codex_kb.audit_log (xact_id);
create index audit_log_idea_idx on codex_kb.audit_log (idea_id, id);

create function codex_kb.audit_row_hash(e codex_kb.audit_log) returns bytea
language sql immutable as $$
  select sha256(convert_to(jsonb_build_array(
    e.id, (extract(epoch from e.at) * 1000000)::bigint::text, e.actor, e.action, e.subject_type,
    e.subject_id, e.idea_id, e.details, e.trace_id, e.xact_id::text)::text, 'UTF8'))
$$;

create function codex_kb.audit_log_before_insert() returns trigger
language plpgsql as $$
begin
  new.xact_id := pg_current_xact_id();
  new.row_hash := codex_kb.audit_row_hash(new);
  return new;
end $$;

create trigger audit_log_hash before insert on codex_kb.audit_log
  for each row execute function codex_kb.audit_log_before_insert();

create function codex_kb.refuse_change() returns trigger
language plpgsql as $$
begin
  raise exception '% is append-only: % refused', tg_table_name, tg_op
    using errcode = 'insufficient_privilege';
end $$;

create trigger audit_log_append_only before update or delete on codex_kb.audit_log
  for each row execute function codex_kb.refuse_change();
create trigger audit_log_no_truncate before truncate on codex_kb.audit_log
  for each statement execute function codex_kb.refuse_change();

create table codex_kb.audit_seals (
  id bigint generated always as identity primary key,
  prev_horizon xid8 not null,
  horizon xid8 not null,
  entry_count integer not null,
  first_entry_id bigint,
  last_entry_id bigint,
  entries_hash bytea not null,
  prev_seal_hash bytea not null,
  seal_hash bytea not null,
  sealed_at timestamptz not null default now(),
  check (prev_horizon < horizon)
);

create trigger audit_seals_append_only before update or delete on codex_kb.audit_seals
  for each row execute function codex_kb.refuse_change();
create trigger audit_seals_no_truncate before truncate on codex_kb.audit_seals
  for each statement execute function codex_kb.refuse_change();

create function codex_kb.audit_entries_hash(lo xid8, hi xid8) returns table (n integer, first_id bigint, last_id bigint, h bytea)
language sql stable as $$
  select count(*)::integer, min(id), max(id),
         sha256(coalesce(string_agg(row_hash, ''::bytea order by id), ''::bytea))
    from codex_kb.audit_log where xact_id >= lo and xact_id < hi
$$;

create function codex_kb.audit_seal_hash(prev bytea, lo xid8, hi xid8, n integer, entries bytea) returns bytea
language sql immutable as $$
  select sha256(prev || convert_to(lo::text || ':' || hi::text || ':' || n::text, 'UTF8') || entries)
$$;

-- Seals everything that can no longer change. Returns the new seal, or nothing when
-- there was nothing new to seal. Sealers serialize on an advisory lock; writers never do.
create function codex_kb.audit_seal() returns setof codex_kb.audit_seals
language plpgsql as $$
declare
  last codex_kb.audit_seals;
  lo xid8;
  hi xid8;
  agg record;
  prev bytea;
begin
  perform pg_advisory_xact_lock(hashtextextended('facteur:audit-seal', 0));
  select * into last from codex_kb.audit_seals order by id desc limit 1;
  lo := coalesce(last.horizon, '1'::xid8);
  prev := coalesce(last.seal_hash, '\x'::bytea);
  hi := pg_snapshot_xmin(pg_current_snapshot());
  if hi <= lo then
    return;
  end if;
  select * into agg from codex_kb.audit_entries_hash(lo, hi);
  if agg.n = 0 then
    return;
  end if;
  return query
    insert into codex_kb.audit_seals (prev_horizon, horizon, entry_count, first_entry_id, last_entry_id,
                                      entries_hash, prev_seal_hash, seal_hash)
    values (lo, hi, agg.n, agg.first_id, agg.last_id, agg.h, prev,
            codex_kb.audit_seal_hash(prev, lo, hi, agg.n, agg.h))
    returning *;
end $$;
