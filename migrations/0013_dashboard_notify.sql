-- Live dashboard hints: a state change of an idea, a task or a run sends NOTIFY
-- facteur_changes with the idea's id, which the status function's dashboard relays to open
-- pages over Server-Sent Events. A hint only: pages re-read their state, so a lost
-- notification never shows a wrong one. Row triggers whose WHEN compares the old and new
-- status, so heartbeats and progress updates (most of the updates) never call a function;
-- PostgreSQL folds identical notifications of one transaction into one.
--
-- codex_kb.change_seq moves on with every hint: where LISTEN is not possible (local mode's
-- embedded PGlite serves a single connection), the dashboard polls it instead.
create sequence codex_kb.change_seq;

-- ideas name themselves in id, tasks and task_runs their idea in idea_id; PL/pgSQL plans
-- each statement at its first run and compiles the function per table, so the branch a
-- table never takes is never planned against it
create function codex_kb.notify_idea_change() returns trigger language plpgsql as $$
declare
  idea uuid;
begin
  if tg_table_name = 'ideas' then
    idea := new.id;
  else
    idea := new.idea_id;
  end if;
  perform nextval('codex_kb.change_seq');
  perform pg_notify('facteur_changes', idea::text);
  return null;
end $$;

create trigger ideas_notify_insert after insert on codex_kb.ideas
  for each row execute function codex_kb.notify_idea_change();
create trigger ideas_notify_update after update on codex_kb.ideas
  for each row when (old.status is distinct from new.status) execute function codex_kb.notify_idea_change();
create trigger tasks_notify_insert after insert on codex_kb.tasks
  for each row execute function codex_kb.notify_idea_change();
create trigger tasks_notify_update after update on codex_kb.tasks
  for each row when (old.state is distinct from new.state) execute function codex_kb.notify_idea_change();
create trigger task_runs_notify_insert after insert on codex_kb.task_runs
  for each row execute function codex_kb.notify_idea_change();
create trigger task_runs_notify_update after update on codex_kb.task_runs
  for each row when (old.status is distinct from new.status) execute function codex_kb.notify_idea_change();
