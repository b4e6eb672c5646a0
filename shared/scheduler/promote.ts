// Dependency resolution, set-based: a pending task becomes ready when every dependency is
// met — hard: the other task succeeded; soft: the other task is no longer waiting to run
// (so it only orders the two when both are ready); artifact: the other task produced the
// named artifact; approval: the other task succeeded and this task's approval was granted.
// A task whose only missing piece is an approval asks for one and waits for it.
import type { Queryable } from '../db/index.js';

export async function promoteReadyTasks(sql: Queryable, ideaId?: string): Promise<number> {
  // One idea's promotion (every completion makes one) is a statement of its own, not
  // `$1 is null or idea_id = $1`: a generic plan of that form cannot count on the idea's index.
  const inScope = ideaId === undefined ? sql`true` : sql`t.idea_id = ${ideaId}::uuid`;
  const promoted = await sql`
    with unmet as (
      select d.task_id, d.dependency_type
        from codex_kb.task_dependencies d
        join codex_kb.tasks t on t.id = d.task_id and t.state = 'pending'
        join codex_kb.tasks b on b.id = d.depends_on_task_id
       where ${inScope}
         and not case d.dependency_type
           when 'hard' then b.state = 'succeeded'
           when 'soft' then b.state not in ('pending', 'ready', 'queued', 'paused', 'awaiting_approval')
           when 'artifact' then exists (select 1 from codex_kb.artifacts a where a.task_id = b.id and a.artifact_type = d.artifact_kind)
           when 'approval' then b.state = 'succeeded' and exists (
             select 1 from codex_kb.approvals ap where ap.task_id = d.task_id and ap.status = 'approved')
         end
    ), waiting_approval as (
      -- pending tasks whose only unmet dependencies are approvals whose other task succeeded
      select u.task_id from unmet u group by u.task_id
      having bool_and(u.dependency_type = 'approval')
         and bool_and(exists (
           select 1 from codex_kb.task_dependencies d2 join codex_kb.tasks b2 on b2.id = d2.depends_on_task_id
            where d2.task_id = u.task_id and d2.dependency_type = 'approval' and b2.state = 'succeeded'))
    ), asked as (
      insert into codex_kb.approvals (idea_id, task_id, checkpoint, reason, requested_by)
      select t.idea_id, t.id, 'dependency', 'task ' || t.key || ' needs an approval before it runs', 'scheduler'
        from codex_kb.tasks t join waiting_approval w on w.task_id = t.id
       where not exists (select 1 from codex_kb.approvals ap where ap.task_id = t.id and ap.status = 'pending')
      returning task_id
    ), parked as (
      update codex_kb.tasks t set state = 'awaiting_approval', state_reason = 'waiting for an approval'
        from waiting_approval w where t.id = w.task_id and t.state = 'pending'
      returning t.id
    )
    update codex_kb.tasks t set state = 'ready', state_reason = null
     where t.state = 'pending'
       and ${inScope}
       and not exists (select 1 from unmet u where u.task_id = t.id)
    returning t.id`;
  return promoted.length;
}
