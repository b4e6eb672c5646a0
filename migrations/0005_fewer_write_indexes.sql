-- Every intake event writes five rows; each index on them is paid per event (measured:
-- `npm run bench -- intake`). These two are never needed: tasks (idea_id) is the leading
-- column of the unique (idea_id, key) index, and no query looks deliveries up by idea.
drop index codex_kb.tasks_idea_idx;
drop index codex_kb.deliveries_idea_idx;
