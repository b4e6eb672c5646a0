-- The lifecycle: the allowed moves of ideas, tasks and runs (mirroring
-- shared/lifecycle/states.ts, compared row for row by a test), triggers that refuse any
-- other move, and the columns the scheduler and the later stages need.

create table codex_kb.idea_transitions (from_status text not null, to_status text not null, primary key (from_status, to_status));
create table codex_kb.task_transitions (from_state text not null, to_state text not null, primary key (from_state, to_state));
create table codex_kb.run_transitions (from_status text not null, to_status text not null, primary key (from_status, to_status));

insert into codex_kb.idea_transitions (from_status, to_status) values
  ('awaiting_approval', 'awaiting_dependencies'),
  ('awaiting_approval', 'blocked'),
  ('awaiting_approval', 'cancelled'),
  ('awaiting_approval', 'deployment'),
  ('awaiting_approval', 'failed'),
  ('awaiting_approval', 'integration'),
  ('awaiting_approval', 'paused'),
  ('awaiting_approval', 'plan_ready'),
  ('awaiting_approval', 'planning'),
  ('awaiting_approval', 'qa_review'),
  ('awaiting_approval', 'registered'),
  ('awaiting_approval', 'remediation'),
  ('awaiting_approval', 'running_tasks'),
  ('awaiting_dependencies', 'awaiting_approval'),
  ('awaiting_dependencies', 'blocked'),
  ('awaiting_dependencies', 'cancelled'),
  ('awaiting_dependencies', 'failed'),
  ('awaiting_dependencies', 'paused'),
  ('awaiting_dependencies', 'running_tasks'),
  ('blocked', 'awaiting_dependencies'),
  ('blocked', 'cancelled'),
  ('blocked', 'deployment'),
  ('blocked', 'failed'),
  ('blocked', 'integration'),
  ('blocked', 'monitoring'),
  ('blocked', 'paused'),
  ('blocked', 'plan_ready'),
  ('blocked', 'planning'),
  ('blocked', 'qa_review'),
  ('blocked', 'registered'),
  ('blocked', 'remediation'),
  ('blocked', 'running_tasks'),
  ('deployment', 'awaiting_approval'),
  ('deployment', 'blocked'),
  ('deployment', 'cancelled'),
  ('deployment', 'failed'),
  ('deployment', 'monitoring'),
  ('deployment', 'paused'),
  ('integration', 'awaiting_approval'),
  ('integration', 'blocked'),
  ('integration', 'cancelled'),
  ('integration', 'deployment'),
  ('integration', 'failed'),
  ('integration', 'paused'),
  ('monitoring', 'awaiting_approval'),
  ('monitoring', 'blocked'),
  ('monitoring', 'cancelled'),
  ('monitoring', 'completed'),
  ('monitoring', 'failed'),
  ('monitoring', 'paused'),
  ('monitoring', 'remediation'),
  ('paused', 'awaiting_approval'),
  ('paused', 'awaiting_dependencies'),
  ('paused', 'blocked'),
  ('paused', 'cancelled'),
  ('paused', 'deployment'),
  ('paused', 'integration'),
  ('paused', 'monitoring'),
  ('paused', 'plan_ready'),
  ('paused', 'planning'),
  ('paused', 'qa_review'),
  ('paused', 'registered'),
  ('paused', 'remediation'),
  ('paused', 'running_tasks'),
  ('plan_ready', 'awaiting_approval'),
  ('plan_ready', 'awaiting_dependencies'),
  ('plan_ready', 'blocked'),
  ('plan_ready', 'cancelled'),
  ('plan_ready', 'failed'),
  ('plan_ready', 'paused'),
  ('plan_ready', 'running_tasks'),
  ('planning', 'awaiting_approval'),
  ('planning', 'blocked'),
  ('planning', 'cancelled'),
  ('planning', 'failed'),
  ('planning', 'paused'),
  ('planning', 'plan_ready'),
  ('qa_review', 'awaiting_approval'),
  ('qa_review', 'blocked'),
  ('qa_review', 'cancelled'),
  ('qa_review', 'failed'),
  ('qa_review', 'integration'),
  ('qa_review', 'paused'),
  ('qa_review', 'running_tasks'),
  ('registered', 'awaiting_approval'),
  ('registered', 'blocked'),
  ('registered', 'cancelled'),
  ('registered', 'failed'),
  ('registered', 'paused'),
  ('registered', 'planning'),
  ('remediation', 'awaiting_approval'),
  ('remediation', 'blocked'),
  ('remediation', 'cancelled'),
  ('remediation', 'failed'),
  ('remediation', 'paused'),
  ('remediation', 'running_tasks'),
  ('running_tasks', 'awaiting_approval'),
  ('running_tasks', 'blocked'),
  ('running_tasks', 'cancelled'),
  ('running_tasks', 'failed'),
  ('running_tasks', 'paused'),
  ('running_tasks', 'qa_review');

insert into codex_kb.task_transitions (from_state, to_state) values
  ('awaiting_approval', 'blocked'),
  ('awaiting_approval', 'cancelled'),
  ('awaiting_approval', 'pending'),
  ('awaiting_approval', 'ready'),
  ('blocked', 'cancelled'),
  ('blocked', 'queued'),
  ('blocked', 'ready'),
  ('failed', 'blocked'),
  ('failed', 'cancelled'),
  ('failed', 'queued'),
  ('paused', 'cancelled'),
  ('paused', 'pending'),
  ('paused', 'queued'),
  ('paused', 'ready'),
  ('pending', 'awaiting_approval'),
  ('pending', 'blocked'),
  ('pending', 'cancelled'),
  ('pending', 'paused'),
  ('pending', 'ready'),
  ('queued', 'blocked'),
  ('queued', 'cancelled'),
  ('queued', 'paused'),
  ('queued', 'submitting'),
  ('ready', 'blocked'),
  ('ready', 'cancelled'),
  ('ready', 'paused'),
  ('ready', 'pending'),
  ('ready', 'submitting'),
  ('running', 'blocked'),
  ('running', 'cancelled'),
  ('running', 'failed'),
  ('running', 'queued'),
  ('running', 'succeeded'),
  ('submitting', 'blocked'),
  ('submitting', 'cancelled'),
  ('submitting', 'failed'),
  ('submitting', 'queued'),
  ('submitting', 'running'),
  ('submitting', 'succeeded'),
  ('succeeded', 'queued');

insert into codex_kb.run_transitions (from_status, to_status) values
  ('queued', 'cancelled'),
  ('queued', 'submitting'),
  ('running', 'cancelled'),
  ('running', 'failed'),
  ('running', 'succeeded'),
  ('submitting', 'cancelled'),
  ('submitting', 'failed'),
  ('submitting', 'running'),
  ('submitting', 'succeeded');


create function codex_kb.guard_idea_transition() returns trigger
language plpgsql as $$
begin
  if new.status is distinct from old.status then
    if not exists (select 1 from codex_kb.idea_transitions where from_status = old.status and to_status = new.status) then
      raise exception 'idea % cannot move from % to %', old.id, old.status, new.status using errcode = 'check_violation';
    end if;
    new.last_progress_at := now();
  end if;
  new.updated_at := now();
  return new;
end $$;

create function codex_kb.guard_task_transition() returns trigger
language plpgsql as $$
begin
  if new.state is distinct from old.state then
    if not exists (select 1 from codex_kb.task_transitions where from_state = old.state and to_state = new.state) then
      raise exception 'task % cannot move from % to %', old.id, old.state, new.state using errcode = 'check_violation';
    end if;
  end if;
  new.updated_at := now();
  return new;
end $$;

create function codex_kb.guard_run_transition() returns trigger
language plpgsql as $$
begin
  if new.status is distinct from old.status then
    if not exists (select 1 from codex_kb.run_transitions where from_status = old.status and to_status = new.status) then
      raise exception 'run % cannot move from % to %', old.id, old.status, new.status using errcode = 'check_violation';
    end if;
  end if;
  return new;
end $$;

alter table codex_kb.ideas
  add column last_progress_at timestamptz not null default now(),
  add column monitoring_until timestamptz,
  add column deployed_version text,
  add column review_cycles integer not null default 0,
  add column metadata jsonb not null default '{}';

create trigger ideas_transition before update on codex_kb.ideas
  for each row execute function codex_kb.guard_idea_transition();
create trigger tasks_transition before update on codex_kb.tasks
  for each row execute function codex_kb.guard_task_transition();
create trigger task_runs_transition before update on codex_kb.task_runs
  for each row execute function codex_kb.guard_run_transition();

-- Denormalized onto the run so the scheduler counts active runs per scope from one index.
alter table codex_kb.task_runs
  add column stage text not null default 'implementation' check (stage in ('planning', 'implementation', 'review', 'integration', 'deploy')),
  add column repository text not null default '',
  add column workspace text;
create index task_runs_active_scope_idx on codex_kb.task_runs (stage, repository, idea_id, workspace)
  where status in ('submitting', 'running');
create index task_runs_stale_submit_idx on codex_kb.task_runs (queued_at) where status = 'submitting';
create index task_runs_heartbeat_idx on codex_kb.task_runs (last_heartbeat_at) where status = 'running';

create index tasks_waiting_idx on codex_kb.tasks (not_before) where state = 'queued';
create index tasks_pending_idx on codex_kb.tasks (idea_id) where state = 'pending';
create index ideas_monitoring_idx on codex_kb.ideas (monitoring_until) where status = 'monitoring';
create index ideas_progress_idx on codex_kb.ideas (last_progress_at)
  where status not in ('completed', 'cancelled', 'failed', 'paused', 'blocked', 'awaiting_approval');
