-- The claim's limits read counters instead of counting every active run.
--
-- codex_kb.claim_task counted the active runs (`submitting`, `running`) of the global,
-- stage and repository scopes while holding their advisory locks, so every claim in the
-- system waited behind a count that grew with the number of runs in flight: at 200
-- completions/s with thousands of runs active, the dispatch hop fell behind
-- (`npm run bench -- dispatch`). Those three scopes now have a row each in
-- codex_kb.run_counts, kept by triggers on task_runs. The idea's and the workspace's
-- counts stay counts, over small partial indexes of active runs (an idea has a few).
--
-- A run ending is counted at commit (a deferred trigger), so the counter rows — `global`
-- above all, which every claim and every settle touches — are locked only while that
-- commit happens, never for the rest of a settling transaction. A run starting is counted
-- at once, by the claim's own insert, under the scopes' advisory locks the claim holds
-- anyway: the next claim of the same scope, in this transaction or after its commit, sees
-- it. A decrement not yet committed is not seen, which can only make a claim wait, never
-- pass a limit. Counter rows are always the last rows a transaction locks (the claim
-- updates its idea before inserting its run), so they cannot be part of a deadlock.

create table codex_kb.run_counts (
  scope text primary key,   -- 'global', 'stage:<stage>', 'repo:<owner/name>'
  n integer not null
) with (fillfactor = 50);   -- room for the hot rows' updates to stay on their page

create function codex_kb.run_count_scopes(stage text, repository text) returns text[]
language sql immutable as $$ select array['global', 'repo:' || repository, 'stage:' || stage] $$;  -- sorted: rows lock in one order

create function codex_kb.count_active_runs() returns trigger language plpgsql as $$
begin
  if tg_op <> 'INSERT' and old.status in ('submitting', 'running') then
    update codex_kb.run_counts set n = n - 1 where scope = any(codex_kb.run_count_scopes(old.stage, old.repository));
  end if;
  if tg_op <> 'DELETE' and new.status in ('submitting', 'running') then
    insert into codex_kb.run_counts (scope, n)
    select s, 1 from unnest(codex_kb.run_count_scopes(new.stage, new.repository)) s order by s
    on conflict (scope) do update set n = codex_kb.run_counts.n + 1;
  end if;
  return null;
end $$;

create trigger task_runs_count_insert after insert on codex_kb.task_runs
  for each row
  when (new.status in ('submitting', 'running'))
  execute function codex_kb.count_active_runs();

-- a heartbeat (or any change but these) queues nothing
create constraint trigger task_runs_count_update after update on codex_kb.task_runs
  deferrable initially deferred for each row
  when ((old.status in ('submitting', 'running')) <> (new.status in ('submitting', 'running'))
        or (new.status in ('submitting', 'running') and (old.stage, old.repository) is distinct from (new.stage, new.repository)))
  execute function codex_kb.count_active_runs();

create constraint trigger task_runs_count_delete after delete on codex_kb.task_runs
  deferrable initially deferred for each row
  when (old.status in ('submitting', 'running'))
  execute function codex_kb.count_active_runs();

-- Recounts from task_runs: after a TRUNCATE (no row triggers fire), and by hand should an
-- operator ever doubt the counters (`select codex_kb.recount_active_runs()`).
create function codex_kb.recount_active_runs() returns void language plpgsql as $$
begin
  lock table codex_kb.run_counts in exclusive mode;
  update codex_kb.run_counts set n = 0 where n <> 0;
  insert into codex_kb.run_counts (scope, n)
  select s, count(*)::int
    from codex_kb.task_runs r, unnest(codex_kb.run_count_scopes(r.stage, r.repository)) s
   where r.status in ('submitting', 'running')
   group by s
  on conflict (scope) do update set n = excluded.n;
  insert into codex_kb.run_counts (scope, n) values ('global', 0) on conflict do nothing;
end $$;

create function codex_kb.recount_active_runs_trigger() returns trigger language plpgsql as $$
begin
  perform codex_kb.recount_active_runs();
  return null;
end $$;

create trigger task_runs_count_truncate after truncate on codex_kb.task_runs
  for each statement execute function codex_kb.recount_active_runs_trigger();

select codex_kb.recount_active_runs();

create index task_runs_active_idea_idx on codex_kb.task_runs (idea_id) where status in ('submitting', 'running');
create index task_runs_active_workspace_idx on codex_kb.task_runs (workspace) where status in ('submitting', 'running') and workspace is not null;

-- The claim as in 0012, with the counts read from run_counts and the idea updated before the run is inserted.
create or replace function codex_kb.claim_task(
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
  select coalesce((select n from codex_kb.run_counts where scope = 'global'), 0) as g,
         coalesce((select n from codex_kb.run_counts where scope = 'stage:' || p_stage), 0) as s,
         coalesce((select n from codex_kb.run_counts where scope = 'repo:' || p_repository), 0) as rp,
         (select count(*) from codex_kb.task_runs r where r.idea_id = p_idea and r.status in ('submitting', 'running'))::int as i,
         (select count(*) from codex_kb.task_runs r where r.workspace = p_workspace and r.status in ('submitting', 'running'))::int as w
    into c;
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
      -- the idea's row before the run's insert takes the counter rows (see the top)
      update codex_kb.ideas set status = case
          when status = 'registered' and p_stage = 'planning' then 'planning'
          when status in ('plan_ready', 'awaiting_dependencies', 'remediation') and p_stage = 'implementation' then 'running_tasks'
          else status end
       where id = p_idea and status in ('registered', 'plan_ready', 'awaiting_dependencies', 'remediation');
      insert into codex_kb.task_runs (id, task_id, idea_id, attempt, status, external_run_id, stage, repository, workspace, retry_count,
                                      effective_policy_hash, estimate_cost_usd, estimate_tokens)
      values (p_run, p_task, p_idea, p_attempts + 1, 'submitting', p_workflow, p_stage, p_repository, p_workspace, p_attempts,
              p_policy_hash, est_cost, est_tokens);
      insert into codex_kb.run_events (idea_id, run_id, task_id, event_type, actor, payload)
      values (p_idea, p_run, p_task, 'run.submitting', 'scheduler',
              jsonb_build_object('attempt', p_attempts + 1, 'workflowName', p_workflow));
      return query select p_run, c.g, c.s, c.rp, c.i, c.w, over, s.idea_cost, s.idea_tokens, s.repo_cost, s.repo_tokens;
      return;
    end if;
  end if;
  return query select null::uuid, c.g, c.s, c.rp, c.i, c.w, over, s.idea_cost, s.idea_tokens, s.repo_cost, s.repo_tokens;
end $$;
