-- Budgets before spend, and freeze windows, at the claim (shared/policy/budgets.ts,
-- shared/policy/freeze.ts, shared/scheduler/governance.ts).
--
-- Every run records what its stage was estimated to spend when it was claimed, so the
-- committed spend of an idea or a repository (finished runs' spend, plus for each active
-- run the larger of its estimate and what it has reported) can be summed by any instance
-- without knowing the policy of every other idea.
alter table codex_kb.task_runs
  add column estimate_cost_usd numeric(14, 6) not null default 0 check (estimate_cost_usd >= 0),
  add column estimate_tokens bigint not null default 0 check (estimate_tokens >= 0);
create index task_runs_repository_day_idx on codex_kb.task_runs (repository, queued_at);

-- A run's tokens as reported (cumulative): input plus output.
create function codex_kb.run_tokens(p_usage jsonb) returns bigint
language sql immutable as $$
  select coalesce((p_usage->>'inputTokens')::bigint, 0) + coalesce((p_usage->>'outputTokens')::bigint, 0)
$$;

-- Committed spend of an idea, and of a repository on the UTC day of p_now (the database's
-- now() when null).
create function codex_kb.committed_spend(p_idea uuid, p_repository text, p_now timestamptz default null)
returns table (idea_cost numeric, idea_tokens bigint, repo_cost numeric, repo_tokens bigint)
language sql stable as $$
  with day as (select date_trunc('day', coalesce(p_now, now()), 'UTC') as start),
  runs as (
    select r.idea_id, r.repository, r.queued_at,
           case when r.status in ('submitting', 'running') then greatest(r.cost_usd, r.estimate_cost_usd) else r.cost_usd end as cost,
           case when r.status in ('submitting', 'running') then greatest(codex_kb.run_tokens(r.usage), r.estimate_tokens)
                else codex_kb.run_tokens(r.usage) end as tokens
      from codex_kb.task_runs r, day
     where r.idea_id = p_idea or (r.repository = p_repository and r.queued_at >= day.start and r.queued_at < day.start + interval '1 day')
  )
  select coalesce(sum(cost) filter (where idea_id = p_idea), 0),
         coalesce(sum(tokens) filter (where idea_id = p_idea), 0)::bigint,
         coalesce(sum(cost) filter (where repository = p_repository and queued_at >= day.start and queued_at < day.start + interval '1 day'), 0),
         coalesce(sum(tokens) filter (where repository = p_repository and queued_at >= day.start and queued_at < day.start + interval '1 day'), 0)::bigint
    from runs, day
$$;

-- The claim (migrations 0004, 0008) with two more things decided under the same locks:
--   * budgets: p_budget is {"enforce", "idea": {maxCostUsd?, maxTokens?}, "repo": {…},
--     "estimate": {costUsd, tokens}}. With a limit set, the committed spend is summed after
--     the locks are taken (the caller adds `budget:repo:<repository>` to the keys when the
--     repository has a daily budget; the idea's key is always there), and a run whose
--     estimate would pass a limit, or whose limit is reached, is refused when enforced —
--     or claimed anyway, with over_budget true, when not (the caller records the finding).
--   * a ready task's not_before (a freeze window's end) is honoured like a retry's.
-- The run records the effective policy's hash and its estimate.
drop function codex_kb.claim_task(uuid, integer, uuid, text, text[], text, text, uuid, text, integer, integer, integer, integer, text[], timestamptz);

create function codex_kb.claim_task(
  p_task uuid, p_attempts integer, p_run uuid, p_workflow text, p_keys text[],
  p_stage text, p_repository text, p_idea uuid, p_workspace text,
  p_limit_global integer, p_limit_stage integer, p_limit_repository integer, p_limit_idea integer,
  p_schedulable text[], p_now timestamptz default null, p_policy_hash text default null, p_budget jsonb default '{}'
) returns table (run_id uuid, n_global integer, n_stage integer, n_repo integer, n_idea integer, n_workspace integer,
                 over_budget boolean, idea_cost numeric, idea_tokens bigint, repo_cost numeric, repo_tokens bigint)
language plpgsql as $$
declare
  c record;
  s record;
  claimed uuid;
  over boolean := false;
  est_cost numeric := coalesce((p_budget->'estimate'->>'costUsd')::numeric, 0);
  est_tokens bigint := coalesce((p_budget->'estimate'->>'tokens')::bigint, 0);
  lim_idea_cost numeric := (p_budget->'idea'->>'maxCostUsd')::numeric;
  lim_idea_tokens bigint := (p_budget->'idea'->>'maxTokens')::bigint;
  lim_repo_cost numeric := (p_budget->'repo'->>'maxCostUsd')::numeric;
  lim_repo_tokens bigint := (p_budget->'repo'->>'maxTokens')::bigint;
begin
  perform pg_advisory_xact_lock(hashtextextended(k, 0)) from unnest(p_keys) as k order by k;
  select count(*)::int as g,
         count(*) filter (where r.stage = p_stage)::int as s,
         count(*) filter (where r.repository = p_repository)::int as rp,
         count(*) filter (where r.idea_id = p_idea)::int as i,
         count(*) filter (where r.workspace = p_workspace)::int as w
    into c
    from codex_kb.task_runs r where r.status in ('submitting', 'running');
  if coalesce(lim_idea_cost, lim_idea_tokens, lim_repo_cost, lim_repo_tokens) is not null then
    select * into s from codex_kb.committed_spend(p_idea, p_repository, p_now);
    -- refused: a limit reached, or one the estimate would pass (shared/policy/budgets.ts `refuses`)
    over := (lim_idea_cost is not null and (s.idea_cost >= lim_idea_cost or s.idea_cost + est_cost > lim_idea_cost))
         or (lim_idea_tokens is not null and (s.idea_tokens >= lim_idea_tokens or s.idea_tokens + est_tokens > lim_idea_tokens))
         or (lim_repo_cost is not null and (s.repo_cost >= lim_repo_cost or s.repo_cost + est_cost > lim_repo_cost))
         or (lim_repo_tokens is not null and (s.repo_tokens >= lim_repo_tokens or s.repo_tokens + est_tokens > lim_repo_tokens));
  else
    select 0::numeric as idea_cost, 0::bigint as idea_tokens, 0::numeric as repo_cost, 0::bigint as repo_tokens into s;
  end if;
  if c.g < p_limit_global and c.s < p_limit_stage and c.rp < p_limit_repository and c.i < p_limit_idea and c.w < 1
     and not (over and coalesce((p_budget->>'enforce')::boolean, false))
     and exists (select 1 from codex_kb.ideas where id = p_idea and status = any(p_schedulable)) then
    update codex_kb.tasks set state = 'submitting', attempts = p_attempts + 1, not_before = null, state_reason = null
     where id = p_task and attempts = p_attempts
       and state in ('ready', 'queued') and coalesce(not_before, '-infinity') <= coalesce(p_now, now())
    returning id into claimed;
    if claimed is not null then
      insert into codex_kb.task_runs (id, task_id, idea_id, attempt, status, external_run_id, stage, repository, workspace, retry_count,
                                      effective_policy_hash, estimate_cost_usd, estimate_tokens)
      values (p_run, p_task, p_idea, p_attempts + 1, 'submitting', p_workflow, p_stage, p_repository, p_workspace, p_attempts,
              p_policy_hash, est_cost, est_tokens);
      update codex_kb.ideas set status = case
          when status = 'registered' and p_stage = 'planning' then 'planning'
          when status in ('plan_ready', 'awaiting_dependencies', 'remediation') and p_stage = 'implementation' then 'running_tasks'
          else status end
       where id = p_idea and status in ('registered', 'plan_ready', 'awaiting_dependencies', 'remediation');
      insert into codex_kb.run_events (idea_id, run_id, task_id, event_type, actor, payload)
      values (p_idea, p_run, p_task, 'run.submitting', 'scheduler',
              jsonb_build_object('attempt', p_attempts + 1, 'workflowName', p_workflow));
      return query select p_run, c.g, c.s, c.rp, c.i, c.w, over, s.idea_cost, s.idea_tokens, s.repo_cost, s.repo_tokens;
      return;
    end if;
  end if;
  return query select null::uuid, c.g, c.s, c.rp, c.i, c.w, over, s.idea_cost, s.idea_tokens, s.repo_cost, s.repo_tokens;
end $$;
