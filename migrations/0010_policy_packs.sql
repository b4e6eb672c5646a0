-- Governance: policy packs as versioned documents, each repository's selection of one, the
-- effective policies they resolve to (kept once per hash, with the merge chain), findings in
-- the PolicyReport result shape, approvals that need N of M votes and expire, and the votes
-- themselves as append-only rows. shared/policy/ is the code over these tables.

-- The first policy_packs table was never used (nothing wrote it): replaced.
drop table codex_kb.policy_packs;

create table codex_kb.policy_packs (
  key text not null check (key ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  version integer not null check (version between 1 and 1000000),
  status text not null default 'draft' check (status in ('draft', 'active', 'retired')),
  description text not null default '',
  -- the validated document (JSON), and the YAML it was written as (what a person reviews)
  document jsonb not null,
  source text not null,
  hash text not null,
  origin text not null check (origin in ('seed', 'directory', 'api')),
  created_by text not null,
  created_at timestamptz not null default now(),
  activated_at timestamptz,
  primary key (key, version)
);
-- a version, once stored, is never rewritten: a change is a new version
create function codex_kb.policy_pack_immutable() returns trigger
language plpgsql as $$
begin
  if new.document is distinct from old.document or new.source is distinct from old.source or new.hash is distinct from old.hash then
    raise exception 'policy pack %@% is immutable: store a new version', old.key, old.version using errcode = 'P0001';
  end if;
  return new;
end $$;
create trigger policy_packs_immutable before update on codex_kb.policy_packs
  for each row execute function codex_kb.policy_pack_immutable();
create index policy_packs_active_idx on codex_kb.policy_packs (key, version desc) where status = 'active';

-- Per repository (`owner/name`, lower case): the pack (a version, or null for the latest
-- active one), overrides (a partial pack document, merged over it), and whether the
-- repository's own `.facteur/policy.yml` is honoured.
create table codex_kb.repository_policies (
  repository text primary key,
  pack_key text not null,
  pack_version integer,
  overrides jsonb not null default '{}',
  repo_local boolean not null default false,
  updated_by text not null,
  updated_at timestamptz not null default now()
);

-- One row per distinct effective policy: the merged document, its sha256 over canonical
-- JSON, and the chain it was merged from (pack key@version and hash, override hash, the
-- repo-local file's digest and what of it was refused).
create table codex_kb.effective_policies (
  hash text primary key,
  document jsonb not null,
  chain jsonb not null,
  created_at timestamptz not null default now()
);

alter table codex_kb.task_runs add column effective_policy_hash text;
alter table codex_kb.ideas add column effective_policy_hash text;

-- Findings, appended per evaluation (history kept), in the PolicyReport result shape.
create table codex_kb.policy_findings (
  id bigint generated always as identity primary key,
  evaluation_id uuid not null,
  idea_id uuid not null references codex_kb.ideas (id),
  task_id uuid references codex_kb.tasks (id),
  run_id uuid references codex_kb.task_runs (id),
  checkpoint text not null check (checkpoint in ('plan', 'claim', 'post-implementation', 'pre-merge', 'pre-deploy')),
  policy text not null,
  rule text not null,
  result text not null check (result in ('pass', 'fail', 'warn', 'error', 'skip')),
  severity text not null check (severity in ('info', 'low', 'medium', 'high', 'critical')),
  mode text not null check (mode in ('off', 'evaluate', 'warn', 'enforce')),
  enforced boolean not null,
  would_block boolean not null,
  message text not null,
  suggested_fix text,
  properties jsonb not null default '{}',
  effective_policy_hash text not null,
  created_at timestamptz not null default now()
);
create index policy_findings_idea_idx on codex_kb.policy_findings (idea_id, id);
create index policy_findings_task_idx on codex_kb.policy_findings (task_id, id) where task_id is not null;
create index policy_findings_run_idx on codex_kb.policy_findings (run_id, id) where run_id is not null;
create trigger policy_findings_append_only before update or delete on codex_kb.policy_findings
  for each row execute function codex_kb.refuse_change();

-- The findings recorded before packs existed move over as they were.
insert into codex_kb.policy_findings (evaluation_id, idea_id, task_id, run_id, checkpoint, policy, rule, result, severity,
                                      mode, enforced, would_block, message, properties, effective_policy_hash, created_at)
select gen_random_uuid(), idea_id, task_id, run_id, checkpoint, 'env@0', policy_key,
       case status when 'waived' then 'skip' else status end, 'medium',
       case when enforced then 'enforce' else 'warn' end, enforced, status = 'fail',
       coalesce(message, ''), details, coalesce(effective_policy_hash, ''), created_at
  from codex_kb.policy_checks where idea_id is not null;
drop table codex_kb.policy_checks;

-- Approvals: how many votes decide, who may vote, until when.
alter table codex_kb.approvals drop constraint approvals_status_check;
alter table codex_kb.approvals add constraint approvals_status_check check (status in ('pending', 'approved', 'rejected', 'expired'));
alter table codex_kb.approvals
  add column required integer not null default 1 check (required >= 1),
  add column eligible jsonb not null default '{}',
  add column expires_at timestamptz,
  add column on_expiry text not null default 'block' check (on_expiry in ('block', 'reask')),
  add column effective_policy_hash text,
  add column findings jsonb not null default '[]';
create index approvals_pending_idx on codex_kb.approvals (expires_at) where status = 'pending';

create table codex_kb.approval_votes (
  id bigint generated always as identity primary key,
  approval_id uuid not null references codex_kb.approvals (id),
  voter text not null,
  decision text not null check (decision in ('approve', 'reject')),
  reason text,
  source text not null check (source in ('api', 'github')),
  -- refused votes are kept too, with why; only counted ones decide
  counted boolean not null,
  refused_reason text,
  -- a GitHub delivery counts once, however often it is redelivered
  delivery_id text unique,
  created_at timestamptz not null default now()
);
-- one counted vote per person per approval
create unique index approval_votes_one_per_voter on codex_kb.approval_votes (approval_id, voter) where counted;
create trigger approval_votes_append_only before update or delete on codex_kb.approval_votes
  for each row execute function codex_kb.refuse_change();

-- The repo-local policy file, as facteur-agent read it at planning.
alter table codex_kb.artifacts drop constraint artifacts_artifact_type_check;
alter table codex_kb.artifacts add constraint artifacts_artifact_type_check check (artifact_type in (
  'plan', 'review', 'integration', 'deploy', 'reflection', 'test-report', 'diff-stats', 'toolchain', 'prompt', 'policy'));
