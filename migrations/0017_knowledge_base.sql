-- The knowledge base (shared/kb): reflections on finished runs, embedded under versioned
-- embedding models, retrieved into the prompts of later runs, scored by what happened after.
--
-- Embedding versions. A version names one embedder configuration (provider, model,
-- dimensions); every vector carries its version and a query compares only vectors of the
-- active one. Exactly one version is active at a time (the partial unique index); a version
-- being re-embedded into is `building` until its vectors and its index are complete.
create table codex_kb.embedding_versions (
  version text primary key check (version ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
  provider text not null check (provider in ('local', 'openai')),
  model text not null,
  dimensions integer not null check (dimensions between 1 and 4000),
  state text not null default 'building' check (state in ('building', 'ready', 'retired')),
  active boolean not null default false,
  created_at timestamptz not null default now(),
  promoted_at timestamptz,
  check (not active or state = 'ready')
);
create unique index embedding_versions_one_active on codex_kb.embedding_versions ((true)) where active;

-- Reflections, reshaped from 0001 (never written before this migration): where a lesson
-- applies (repository, paths, stage), where it came from (a run's own `reflection`
-- artifact, Facteur's deterministic one for every finished run, or a synthetic check case),
-- what it says (content, capped; `truncated` when it was cut), whether a later lesson on the
-- same paths superseded it, and how it fared when injected (usefulness).
drop index codex_kb.reflections_embedding_idx;
alter table codex_kb.reflections
  drop column embedding,
  drop column embedding_version,
  add column repository text,
  add column stage text,
  add column outcome text,
  add column paths text[] not null default '{}',
  add column source text not null default 'facteur' check (source in ('facteur', 'artifact', 'synthetic')),
  add column artifact_id uuid,
  add column signature text,
  add column content_digest text,
  add column truncated boolean not null default false,
  add column superseded_by uuid references codex_kb.reflections (id),
  add column superseded_at timestamptz,
  add column injected_count integer not null default 0,
  add column helped_count integer not null default 0,
  add column hurt_count integer not null default 0,
  add column usefulness real not null default 0,
  add column search tsvector generated always as (to_tsvector('english', left(content, 100000))) stored;
-- exactly once: one Facteur reflection per run, one reflection per reflection artifact
create unique index reflections_run_facteur_uidx on codex_kb.reflections (run_id) where source = 'facteur';
create unique index reflections_artifact_uidx on codex_kb.reflections (artifact_id) where artifact_id is not null;
create index reflections_repo_idx on codex_kb.reflections (repository, created_at desc) where superseded_by is null;
create index reflections_paths_idx on codex_kb.reflections using gin (paths) where superseded_by is null;
create index reflections_search_idx on codex_kb.reflections using gin (search);

-- A reflection's vectors, one per embedding version (re-embedding writes the new version's
-- beside the old, which keeps serving). The column has no fixed dimension; each version's
-- HNSW index is a partial expression index with that version's dimension, created by the KB
-- (`create index concurrently … using hnsw ((embedding::vector(N)) vector_cosine_ops)
-- where version = '…'`), named reflection_embeddings_hnsw_<version with [^a-z0-9] as _>.
create table codex_kb.reflection_embeddings (
  reflection_id uuid not null references codex_kb.reflections (id) on delete cascade,
  version text not null references codex_kb.embedding_versions (version),
  embedding vector not null,
  created_at timestamptz not null default now(),
  primary key (reflection_id, version)
);
create index reflection_embeddings_version_idx on codex_kb.reflection_embeddings (version, reflection_id);

-- Runs waiting to be reflected on: a row per run that reached an end, written by the
-- trigger in the transaction that ended it (one small insert; the reflection, its embedding
-- and the scoring of what was injected into the run happen later, in the KB's pass, never on
-- a callback's path). A row leaves when its work is done; a failure is retried with backoff.
create table codex_kb.kb_backlog (
  run_id uuid primary key references codex_kb.task_runs (id),
  enqueued_at timestamptz not null default now(),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error text
);
create index kb_backlog_due_idx on codex_kb.kb_backlog (next_attempt_at);

create function codex_kb.kb_enqueue_ended_run() returns trigger
language plpgsql as $$
begin
  insert into codex_kb.kb_backlog (run_id) values (new.id) on conflict (run_id) do nothing;
  return null;
end
$$;
create trigger task_runs_kb_backlog after update of status on codex_kb.task_runs
  for each row
  when (new.status in ('succeeded', 'failed', 'cancelled') and old.status not in ('succeeded', 'failed', 'cancelled'))
  execute function codex_kb.kb_enqueue_ended_run();

-- What each run was given: one retrieval decision per run (attempt), with every candidate
-- considered and its scores, what was injected, under which version, and whether the
-- retrieval ran degraded (no embedder answer: full-text only). `scored_at` is set, once,
-- when the run's outcome has been credited to the injected lessons.
create table codex_kb.kb_retrievals (
  run_id uuid primary key references codex_kb.task_runs (id),
  idea_id uuid not null references codex_kb.ideas (id),
  task_id uuid not null references codex_kb.tasks (id),
  stage text not null,
  embedding_version text,
  query text not null,
  degraded text,
  candidates jsonb not null default '[]',
  injected uuid[] not null default '{}',
  context_bytes integer not null default 0 check (context_bytes between 0 and 4096),
  latency_ms real,
  created_at timestamptz not null default now(),
  scored_at timestamptz,
  outcome text
);
create index kb_retrievals_unscored_idx on codex_kb.kb_retrievals (created_at) where scored_at is null;
create index kb_retrievals_created_idx on codex_kb.kb_retrievals (created_at);

-- Preference pairs (review loops: an attempt sent back, then a fix approved; retried
-- tasks: a failed attempt, then a succeeded one), exported as JSONL for fine-tuning.
create table codex_kb.preference_pairs (
  id uuid primary key default gen_random_uuid(),
  idea_id uuid not null references codex_kb.ideas (id),
  task_id uuid not null references codex_kb.tasks (id),
  kind text not null check (kind in ('review_loop', 'retry')),
  rejected_run_id uuid not null references codex_kb.task_runs (id),
  chosen_run_id uuid not null references codex_kb.task_runs (id),
  context text not null,
  rejected text not null,
  chosen text not null,
  reasons jsonb not null default '[]',
  created_at timestamptz not null default now(),
  unique (rejected_run_id, chosen_run_id)
);
create index preference_pairs_created_idx on codex_kb.preference_pairs (created_at, id);

-- The daily fine-tune trigger: one row per UTC day it fired, so it fires once a day
-- whatever the number of instances or ticks (the insert decides; the outbox event is written
-- in the same transaction).
create table codex_kb.kb_finetune_triggers (
  day date primary key,
  pairs integer not null,
  since timestamptz,
  dataset text not null,
  event_id uuid not null,
  created_at timestamptz not null default now()
);

-- Re-embedding jobs: resumable (the last reflection done is the keyset cursor), one per
-- target version.
create table codex_kb.kb_reembed_jobs (
  to_version text primary key references codex_kb.embedding_versions (version),
  from_version text references codex_kb.embedding_versions (version),
  state text not null default 'running' check (state in ('running', 'indexing', 'done', 'failed')),
  total integer not null default 0,
  done integer not null default 0,
  last_reflection_id uuid,
  error text,
  started_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz
);

-- Promotions of an embedding version, a prompt version or a model: the evaluation against
-- the active one, the decision (promoted only at delta >= 0), and who asked. What is active
-- for prompts and models is kept in kb_active.
create table codex_kb.kb_promotions (
  id uuid primary key default gen_random_uuid(),
  kind text not null check (kind in ('embedding', 'prompt', 'model')),
  candidate text not null,
  baseline text,
  metrics jsonb not null,
  delta real not null,
  decision text not null check (decision in ('promoted', 'refused')),
  requested_by text not null,
  created_at timestamptz not null default now()
);
create table codex_kb.kb_active (
  kind text primary key check (kind in ('prompt', 'model')),
  name text not null,
  promoted_at timestamptz not null default now()
);

-- The KB's own checks, append-only like the policy findings (which hold what the policy
-- engine decides at an idea's checkpoints, intent.drift included): a run's retrieval decision
-- (`kb.retrieval`), the self-checks on synthetic cases (`kb.anomaly.*`), a promotion's
-- evaluation (`kb.promotion`), a metric leaving its baseline (`monitoring.baseline`). Most
-- have no idea: they are about the knowledge base itself.
create table codex_kb.policy_checks (
  id bigint generated always as identity primary key,
  check_key text not null check (check_key ~ '^[a-z]+(\.[a-z_]+)+$'),
  idea_id uuid references codex_kb.ideas (id),
  task_id uuid references codex_kb.tasks (id),
  run_id uuid references codex_kb.task_runs (id),
  result text not null check (result in ('pass', 'fail', 'warn', 'info')),
  message text not null,
  details jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index policy_checks_key_idx on codex_kb.policy_checks (check_key, created_at desc);
create index policy_checks_run_idx on codex_kb.policy_checks (run_id) where run_id is not null;
create trigger policy_checks_append_only before update or delete on codex_kb.policy_checks
  for each row execute function codex_kb.refuse_change();
