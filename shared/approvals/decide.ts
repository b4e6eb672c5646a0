// What deciding an approval does to the work it holds, in the transaction that decides it
// (under the idea's lock): approved → the task goes back to `pending` (the scheduler promotes
// it when its other dependencies are met) and the idea leaves `awaiting_approval` when
// nothing else is pending; rejected or expired with `block` → the task and the idea are
// blocked with the reason. Each decision is announced on the outbox.
import type { Tx } from '../db/index.js';
import { TERMINAL_IDEA_STATUSES, type IdeaStatus } from '../lifecycle/states.js';
import { moveIdea } from '../lifecycle/transitions.js';
import { afterImplementation, type LifecycleConfig } from '../lifecycle/advance.js';
import { releaseIdea } from './release.js';

export const DEFAULT_EVENTS_TOPIC = 'facteur.events';

export interface DecidedApproval {
  readonly id: string;
  readonly idea_id: string;
  readonly task_id: string | null;
  readonly checkpoint: string;
}

/**
 * The task goes back to `pending`; the idea is released when this was its last pending
 * approval, and an idea whose implementation was all done by then goes on to review.
 */
export async function applyApproved(tx: Tx, a: DecidedApproval, lifecycle?: LifecycleConfig): Promise<void> {
  if (a.task_id) {
    await tx`update codex_kb.tasks set state = 'pending', state_reason = null where id = ${a.task_id} and state = 'awaiting_approval'`;
  }
  if ((await releaseIdea(tx, a.idea_id)) === 'running_tasks' && lifecycle) await afterImplementation(tx, lifecycle, a.idea_id);
}

/** The task and its idea are blocked with `why` (a blocked idea is retried by an operator). */
export async function applyBlocked(tx: Tx, a: DecidedApproval, why: string): Promise<void> {
  // an idea-wide approval (an L0 plan's) held every task that waited with it
  if (a.task_id) await tx`update codex_kb.tasks set state = 'blocked', state_reason = ${why} where id = ${a.task_id} and state = 'awaiting_approval'`;
  else await tx`update codex_kb.tasks set state = 'blocked', state_reason = ${why} where idea_id = ${a.idea_id} and state = 'awaiting_approval'`;
  const [idea] = await tx<{ status: IdeaStatus; resume_status: IdeaStatus | null }[]>`
    select status, resume_status from codex_kb.ideas where id = ${a.idea_id}`;
  if (!idea || TERMINAL_IDEA_STATUSES.includes(idea.status) || idea.status === 'blocked') return;
  // An idea waiting for approvals resumes, after a retry, where it was before it waited.
  const resume = idea.status === 'awaiting_approval' ? idea.resume_status : idea.status;
  await moveIdea(tx, a.idea_id, idea.status, 'blocked', why, { resumeStatus: resume });
}

export async function announce(tx: Tx, topic: string, type: 'facteur.approval.decided' | 'facteur.approval.expired', a: DecidedApproval, data: Record<string, unknown>): Promise<void> {
  await tx`
    insert into codex_kb.outbox (type, source, subject, topic, key, data)
    values (${type}, '/facteur/approvals', ${a.idea_id}, ${topic}, ${a.idea_id},
            ${tx.json({ approvalId: a.id, ideaId: a.idea_id, taskId: a.task_id, checkpoint: a.checkpoint, ...data } as never)})`;
}
