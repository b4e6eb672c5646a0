-- The ideas work is still in, by state: the dashboard's exact counts of the active states
-- read these entries only, however many finished ideas history holds (shared/dashboard/ideas.ts;
-- the finished states are counted up to a cap along ideas_status_idx). The predicate is the
-- one the query spells out, so the planner matches it even for a generic plan.
create index ideas_active_status_idx on codex_kb.ideas (status) where status not in ('completed', 'cancelled', 'failed');
