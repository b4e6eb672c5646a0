-- The active-run counters are decremented one scope at a time, in the scopes' sorted order.
--
-- 0022 decremented them with one `update … where scope = any(…)`, which locks the rows in
-- the order its scan meets them: on a table this small a sequential scan, in the rows'
-- physical order, which updates shuffle. A claim increments the same rows in sorted order
-- (`insert … order by s on conflict do update`), so a settling transaction's commit could hold
-- `stage:…` while waiting for `global` that a claim held while waiting for `stage:…`: a
-- deadlock, one of the two aborted (seen in test/scheduler/limits.test.ts's race, and
-- reproduced in test/scheduler/run-counts-deadlock.test.ts). By primary key, in sorted order,
-- every transaction locks counter rows in the one order.

create or replace function codex_kb.count_active_runs() returns trigger language plpgsql as $$
declare
  s text;
begin
  if tg_op <> 'INSERT' and old.status in ('submitting', 'running') then
    foreach s in array codex_kb.run_count_scopes(old.stage, old.repository) loop  -- sorted
      update codex_kb.run_counts set n = n - 1 where scope = s;
    end loop;
  end if;
  if tg_op <> 'DELETE' and new.status in ('submitting', 'running') then
    insert into codex_kb.run_counts (scope, n)
    select x, 1 from unnest(codex_kb.run_count_scopes(new.stage, new.repository)) x order by x
    on conflict (scope) do update set n = codex_kb.run_counts.n + 1;
  end if;
  return null;
end $$;
