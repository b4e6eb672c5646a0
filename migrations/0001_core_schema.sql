-- Facteur's state, in schema codex_kb. Column names follow the upstream codex_kb schema
-- where the concept is the same (source_type, source_ref, external_run_id, …). Every
-- enumerated value has exactly one spelling, enforced by a CHECK constraint.
create extension if not exists vector;

-- ideas ---------------------------------------------------------------------------------
create table codex_kb.ideas (
  id uuid primary key default gen_random_uuid(),
  source_type text not null check (source_type in ('github_issue', 'discord', 'api')),
  source_ref text not null check (length(source_ref) between 1 and 512),
  title text not null,
  repository text not null check (repository ~ '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$'),
  base text not null default 'main',
  priority text not null default 'normal' check (priority in ('low', 'normal', 'high', 'urgent')),
  priority_rank smallint generated always as (
    case priority when 'urgent' then 3 when 'high' then 2 when 'normal' then 1 else 0 end) stored,
  status text not null default 'registered' check (status in (
    'registered', 'planning', 'plan_ready', 'awaiting_dependencies', 'running_tasks', 'qa_review',
    'integration', 'deployment', 'monitoring', 'completed', 'remediation', 'paused',
    'awaiting_approval', 'blocked', 'cancelled', 'failed')),
  status_reason text,
  -- the status to return to on resume (paused) or after an approval (awaiting_approval)
  resume_status text,
  risk_flags jsonb not null default '[]' check (jsonb_typeof(risk_flags) = 'array'),
  labels text[] not null default '{}',
  autonomy_level text not null default 'L1' check (autonomy_level in ('L0', 'L1', 'L2', 'L3')),
  -- the raw input as received (Idea Spec, CodexTask as JSON)
  payload jsonb not null,
  intent jsonb,
  intent_digest text,
  raw_digest text,
  intent_anchor text check (intent_anchor is null or octet_length(intent_anchor) <= 2048),
  budget jsonb not null default '{}',
  initiator jsonb,
  trace_context text,
  issue_number bigint,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (source_type, source_ref)
);
create index ideas_status_idx on codex_kb.ideas (status, created_at desc, id desc);
create index ideas_repository_idx on codex_kb.ideas (repository, created_at desc, id desc);
create index ideas_created_idx on codex_kb.ideas (created_at desc, id desc);

-- deliveries: the durable idempotency ledger ----------------------------------------------
-- One row per inbound delivery key, written in the same statement/transaction as the
-- effects it caused; a redelivery finds the row and answers with the recorded ids.
create table codex_kb.deliveries (
  delivery_key text primary key,
  delivery_id text,
  kind text not null check (kind in ('idea_spec', 'codex_task_proto', 'codex_task_json', 'workflow_completion', 'telemetry')),
  topic text,
  ce_source text,
  ce_id text,
  idea_id uuid references codex_kb.ideas (id),
  task_id uuid,
  outcome jsonb not null default '{}',
  received_at timestamptz not null default now()
);
create index deliveries_idea_idx on codex_kb.deliveries (idea_id);

-- tasks ------------------------------------------------------------------------------------
create table codex_kb.tasks (
  id uuid primary key default gen_random_uuid(),
  idea_id uuid not null references codex_kb.ideas (id),
  key text not null check (key ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
  stage text not null check (stage in ('planning', 'implementation', 'review', 'integration', 'deploy')),
  state text not null default 'pending' check (state in (
    'pending', 'ready', 'queued', 'submitting', 'running', 'succeeded', 'failed',
    'awaiting_approval', 'blocked', 'paused', 'cancelled')),
  state_reason text,
  title text not null,
  description text not null default '',
  prompt text,
  repository text not null,
  branch text,
  base text not null default 'main',
  priority_rank smallint not null default 1,
  assignee text,
  sla_deadline timestamptz,
  acceptance_criteria jsonb not null default '[]',
  paths jsonb not null default '[]',
  risk text not null default 'low' check (risk in ('low', 'medium', 'high')),
  attempts integer not null default 0 check (attempts >= 0),
  max_attempts integer not null default 3 check (max_attempts >= 1),
  not_before timestamptz,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (idea_id, key)
);
create index tasks_idea_idx on codex_kb.tasks (idea_id);
create index tasks_ready_idx on codex_kb.tasks (priority_rank desc, created_at) where state = 'ready';
create index tasks_active_idx on codex_kb.tasks (state) where state in ('queued', 'submitting', 'running');

create table codex_kb.task_dependencies (
  task_id uuid not null references codex_kb.tasks (id),
  depends_on_task_id uuid not null references codex_kb.tasks (id),
  dependency_type text not null default 'hard' check (dependency_type in ('hard', 'soft', 'approval', 'artifact')),
  artifact_kind text,
  primary key (task_id, depends_on_task_id, dependency_type),
  check (task_id <> depends_on_task_id)
);
create index task_dependencies_on_idx on codex_kb.task_dependencies (depends_on_task_id);

-- task_runs: one attempt of a task = one Argo Workflow ------------------------------------------
create table codex_kb.task_runs (
  id uuid primary key default gen_random_uuid(),
  task_id uuid not null references codex_kb.tasks (id),
  idea_id uuid not null references codex_kb.ideas (id),
  attempt integer not null check (attempt >= 1),
  status text not null default 'queued' check (status in (
    'queued', 'submitting', 'running', 'succeeded', 'failed', 'cancelled')),
  external_run_id text,  -- the Argo Workflow name (deterministic)
  workflow_uid text,
  namespace text,
  queued_at timestamptz not null default now(),
  submitted_at timestamptz,
  started_at timestamptz,
  completed_at timestamptz,
  last_heartbeat_at timestamptz,
  progress real check (progress is null or (progress >= 0 and progress <= 1)),
  input_ref text,
  output_ref text,
  retry_count integer not null default 0,
  submit_attempts integer not null default 0,
  error_code text,
  error_message text,
  delivery_id text,
  token_hash bytea,
  last_seq integer not null default 0,
  usage jsonb not null default '{}',
  cost_usd numeric(14, 6) not null default 0,
  trace_context text,
  unique (task_id, attempt)
);
create unique index task_runs_external_idx on codex_kb.task_runs (external_run_id) where external_run_id is not null;
create index task_runs_idea_idx on codex_kb.task_runs (idea_id);
create index task_runs_active_idx on codex_kb.task_runs (status) where status in ('queued', 'submitting', 'running');

create table codex_kb.run_events (
  id bigint generated always as identity primary key,
  idea_id uuid references codex_kb.ideas (id),
  run_id uuid references codex_kb.task_runs (id),
  task_id uuid references codex_kb.tasks (id),
  seq integer,
  event_type text not null,
  actor text not null,
  payload jsonb not null default '{}',
  response jsonb,
  emitted_at timestamptz not null default now(),
  unique (run_id, seq)
);
create index run_events_idea_idx on codex_kb.run_events (idea_id, id);

create table codex_kb.artifacts (
  id uuid primary key default gen_random_uuid(),
  idea_id uuid not null references codex_kb.ideas (id),
  task_id uuid references codex_kb.tasks (id),
  run_id uuid references codex_kb.task_runs (id),
  artifact_type text not null check (artifact_type in (
    'plan', 'review', 'integration', 'deploy', 'reflection', 'test-report', 'diff-stats')),
  uri text,
  checksum text,
  data jsonb,
  created_at timestamptz not null default now()
);
create index artifacts_idea_idx on codex_kb.artifacts (idea_id, artifact_type);

create table codex_kb.approvals (
  id uuid primary key default gen_random_uuid(),
  idea_id uuid not null references codex_kb.ideas (id),
  task_id uuid references codex_kb.tasks (id),
  checkpoint text not null,
  reason text not null,
  status text not null default 'pending' check (status in ('pending', 'approved', 'rejected')),
  requested_by text not null,
  decided_by text,
  decision_note text,
  created_at timestamptz not null default now(),
  decided_at timestamptz
);
create index approvals_idea_idx on codex_kb.approvals (idea_id);

-- policy ----------------------------------------------------------------------------------
create table codex_kb.policy_packs (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  scope text not null check (scope in ('central', 'repository', 'repo_local')),
  repository text,
  version integer not null default 1,
  content jsonb not null,
  content_hash text not null,
  created_at timestamptz not null default now(),
  unique (name, version)
);

create table codex_kb.policy_checks (
  id uuid primary key default gen_random_uuid(),
  idea_id uuid references codex_kb.ideas (id),
  task_id uuid references codex_kb.tasks (id),
  run_id uuid references codex_kb.task_runs (id),
  checkpoint text not null,
  policy_key text not null,
  status text not null check (status in ('pass', 'fail', 'waived', 'warn')),
  enforced boolean not null default false,
  message text,
  evidence_uri text,
  effective_policy_hash text,
  details jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index policy_checks_idea_idx on codex_kb.policy_checks (idea_id);

-- knowledge base ----------------------------------------------------------------------------
create table codex_kb.reflections (
  id uuid primary key default gen_random_uuid(),
  idea_id uuid references codex_kb.ideas (id),
  task_id uuid references codex_kb.tasks (id),
  run_id uuid references codex_kb.task_runs (id),
  reflection_type text not null,
  content text not null,
  embedding vector(1536),
  embedding_version text,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now()
);
-- cosine distance, so similarity queries must ORDER BY embedding <=> $1 (not <->) to use it
create index reflections_embedding_idx on codex_kb.reflections using hnsw (embedding vector_cosine_ops);

create table codex_kb.run_metrics (
  run_id uuid primary key references codex_kb.task_runs (id),
  idea_id uuid not null references codex_kb.ideas (id),
  queue_latency_ms integer,
  runtime_ms integer,
  retry_latency_ms integer,
  resource_usage jsonb not null default '{}',
  created_at timestamptz not null default now()
);

-- outbox and dead letters ----------------------------------------------------------------------
create table codex_kb.outbox (
  id bigint generated always as identity primary key,
  event_id uuid not null unique default gen_random_uuid(),
  type text not null,
  source text not null,
  subject text,
  topic text not null,
  key text,
  data jsonb not null,
  trace_context text,
  created_at timestamptz not null default now(),
  available_at timestamptz not null default now(),
  attempts integer not null default 0,
  last_error text,
  sent_at timestamptz
);
create index outbox_pending_idx on codex_kb.outbox (available_at, id) where sent_at is null;

create table codex_kb.dead_letters (
  id bigint generated always as identity primary key,
  received_at timestamptz not null default now(),
  function_name text not null,
  topic text,
  delivery_key text,
  status_code integer not null,
  reason_code text not null,
  reason text not null,
  problems jsonb not null default '[]',
  content_type text,
  headers jsonb not null default '{}',
  payload bytea,
  payload_size integer not null,
  payload_truncated boolean not null default false
);
create index dead_letters_received_idx on codex_kb.dead_letters (received_at desc);
