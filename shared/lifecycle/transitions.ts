// Guarded moves: `UPDATE … WHERE id = $1 AND state = ANY($expected)`. Zero rows means
// someone else moved first; the caller decides what that means, nothing is overwritten.
// The TypeScript table is checked first (a wrong move is a bug here, not a race), and the
// database trigger checks again.
import { afterCommit, type Queryable } from '../db/index.js';
import { recordMonitoringSpan } from '../telemetry/stage.js';
import {
  canMove,
  IDEA_TRANSITIONS,
  RUN_TRANSITIONS,
  TASK_TRANSITIONS,
  type IdeaStatus,
  type RunStatus,
  type TaskState,
} from './states.js';

function check<S extends string>(table: Readonly<Record<S, readonly S[]>>, what: string, from: readonly S[], to: S): void {
  for (const f of from) if (!canMove(table, f, to)) throw new Error(`${what} cannot move from ${f} to ${to}`);
}

export async function moveIdea(
  sql: Queryable,
  id: string,
  from: IdeaStatus | readonly IdeaStatus[],
  to: IdeaStatus,
  reason: string | null = null,
  extra: { resumeStatus?: IdeaStatus | null } = {},
): Promise<boolean> {
  const froms = typeof from === 'string' ? [from] : from;
  check(IDEA_TRANSITIONS, 'an idea', froms, to);
  const setResume = extra.resumeStatus !== undefined;
  // Leaving `monitoring` ends the monitoring window, a stage span of its own (shared/telemetry).
  if (froms.includes('monitoring') && to !== 'monitoring') return endMonitoring(sql, id, froms, to, reason, setResume ? (extra.resumeStatus ?? null) : undefined);
  const rows = await sql`
    update codex_kb.ideas
       set status = ${to}, status_reason = ${reason},
           resume_status = case when ${setResume} then ${extra.resumeStatus ?? null} else resume_status end
     where id = ${id} and status = any(${froms as string[]}::text[])
     returning id`;
  return rows.length === 1;
}

/** moveIdea out of `monitoring` (among others): the window's span once the move committed. */
async function endMonitoring(sql: Queryable, id: string, froms: readonly IdeaStatus[], to: IdeaStatus, reason: string | null, resume: IdeaStatus | null | undefined): Promise<boolean> {
  const [moved] = await sql<{ trace_context: string | null; since: Date | null }[]>`
    update codex_kb.ideas i
       set status = ${to}, status_reason = ${reason},
           resume_status = case when ${resume !== undefined} then ${resume ?? null} else i.resume_status end
      from (select status from codex_kb.ideas where id = ${id}) before
     where i.id = ${id} and i.status = any(${froms as string[]}::text[])
     returning i.trace_context,
       case when before.status = 'monitoring' then
         (select max(completed_at) from codex_kb.task_runs where idea_id = i.id and stage = 'deploy' and status = 'succeeded') end as since`;
  if (!moved) return false;
  const since = moved.since;
  if (since) afterCommit(sql, () => recordMonitoringSpan({ ideaId: id, since, outcome: to, ideaTraceContext: moved.trace_context }));
  return true;
}

export async function moveTask(
  sql: Queryable,
  id: string,
  from: TaskState | readonly TaskState[],
  to: TaskState,
  reason: string | null = null,
): Promise<boolean> {
  const froms = typeof from === 'string' ? [from] : from;
  check(TASK_TRANSITIONS, 'a task', froms, to);
  const rows = await sql`
    update codex_kb.tasks set state = ${to}, state_reason = ${reason}
     where id = ${id} and state = any(${froms as string[]}::text[])
     returning id`;
  return rows.length === 1;
}

export async function moveRun(
  sql: Queryable,
  id: string,
  from: RunStatus | readonly RunStatus[],
  to: RunStatus,
): Promise<boolean> {
  const froms = typeof from === 'string' ? [from] : from;
  check(RUN_TRANSITIONS, 'a run', froms, to);
  const rows = await sql`
    update codex_kb.task_runs set status = ${to}
     where id = ${id} and status = any(${froms as string[]}::text[])
     returning id`;
  return rows.length === 1;
}
