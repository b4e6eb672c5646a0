-- The claim compares a retry's `not_before` with the scheduler's clock: `p_now`, or the
-- database's now() when it is null (the default, so a caller that does not pass it — an
-- instance still running the previous build during a rollout — claims as before). The same
-- one statement as migration 0004 otherwise: take the scope locks in sorted order, count
-- the active runs of every scope, and only if all are under their limits move the task,
-- insert the run and move the idea along.
drop function codex_kb.claim_task(uuid, integer, uuid, text, text[], text, text, uuid, text, integer, integer, integer, integer, text[]);

create function codex_kb.claim_task(
  p_task uuid, p_attempts integer, p_run uuid, p_workflow text, p_keys text[],
  p_stage text, p_repository text, p_idea uuid, p_workspace text,
  p_limit_global integer, p_limit_stage integer, p_limit_repository integer, p_limit_idea integer,
  p_schedulable text[], p_now timestamptz default null
) returns table (run_id uuid, n_global integer, n_stage integer, n_repo integer, n_idea integer, n_workspace integer)
language plpgsql as $$
declare
  c record;
  claimed uuid;
begin
  perform pg_advisory_xact_lock(hashtextextended(k, 0)) from unnest(p_keys) as k order by k;
  select count(*)::int as g,
         count(*) filter (where r.stage = p_stage)::int as s,
         count(*) filter (where r.repository = p_repository)::int as rp,
         count(*) filter (where r.idea_id = p_idea)::int as i,
         count(*) filter (where r.workspace = p_workspace)::int as w
    into c
    from codex_kb.task_runs r where r.status in ('submitting', 'running');
  if c.g < p_limit_global and c.s < p_limit_stage and c.rp < p_limit_repository and c.i < p_limit_idea and c.w < 1
     and exists (select 1 from codex_kb.ideas where id = p_idea and status = any(p_schedulable)) then
    update codex_kb.tasks set state = 'submitting', attempts = p_attempts + 1, not_before = null, state_reason = null
     where id = p_task and attempts = p_attempts
       and (state = 'ready' or (state = 'queued' and coalesce(not_before, '-infinity') <= coalesce(p_now, now())))
    returning id into claimed;
    if claimed is not null then
      insert into codex_kb.task_runs (id, task_id, idea_id, attempt, status, external_run_id, stage, repository, workspace, retry_count)
      values (p_run, p_task, p_idea, p_attempts + 1, 'submitting', p_workflow, p_stage, p_repository, p_workspace, p_attempts);
      update codex_kb.ideas set status = case
          when status = 'registered' and p_stage = 'planning' then 'planning'
          when status in ('plan_ready', 'awaiting_dependencies', 'remediation') and p_stage = 'implementation' then 'running_tasks'
          else status end
       where id = p_idea and status in ('registered', 'plan_ready', 'awaiting_dependencies', 'remediation');
      insert into codex_kb.run_events (idea_id, run_id, task_id, event_type, actor, payload)
      values (p_idea, p_run, p_task, 'run.submitting', 'scheduler',
              jsonb_build_object('attempt', p_attempts + 1, 'workflowName', p_workflow));
      return query select p_run, c.g, c.s, c.rp, c.i, c.w;
      return;
    end if;
  end if;
  return query select null::uuid, c.g, c.s, c.rp, c.i, c.w;
end $$;
