// Operator controls: pause, resume, cancel, retry an idea. Each is one transaction under
// the idea's lock, attributed in the audit log; cancel deletes running workflows after
// commit.
import { appendAudit } from '../audit/index.js';
import type { Config } from '../config/index.js';
import { transaction, type Sql } from '../db/index.js';
import { ConflictError, NotFoundError, messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { TERMINAL_IDEA_STATUSES, type IdeaStatus } from '../lifecycle/states.js';
import { moveIdea } from '../lifecycle/transitions.js';
import { afterImplementation } from '../lifecycle/advance.js';
import { releaseIdea } from '../approvals/release.js';
import { deleteWorkflow } from '../dispatch/index.js';
import { isUuid } from '../validation/index.js';

export const ACTIONS = ['pause', 'resume', 'cancel', 'retry'] as const;
export type Action = (typeof ACTIONS)[number];

export interface OperatorDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'lifecycle' | 'topics'>;
  readonly log: Logger;
  readonly workflows?: { delete(name: string): Promise<boolean> };
}

export interface ActionResult {
  readonly ideaId: string;
  readonly action: Action;
  readonly from: IdeaStatus;
  readonly status: IdeaStatus;
}

export async function operate(deps: OperatorDeps, ideaId: string, action: Action, actor: string, reason?: string): Promise<ActionResult> {
  if (!isUuid(ideaId)) throw new NotFoundError(`no idea ${ideaId}`);
  const toDelete: string[] = [];
  const result = (await transaction(deps.sql, [`idea:${ideaId}`], async (tx) => {
    const [idea] = await tx<{ status: IdeaStatus; resume_status: IdeaStatus | null; review_cycles: number }[]>`
      select status, resume_status, review_cycles from codex_kb.ideas where id = ${ideaId}`;
    if (!idea) throw new NotFoundError(`no idea ${ideaId}`);
    const from = idea.status;
    let to: IdeaStatus;
    switch (action) {
      case 'pause':
        if (from === 'paused' || TERMINAL_IDEA_STATUSES.includes(from)) throw new ConflictError('invalid_action', `cannot pause an idea that is ${from}`);
        to = 'paused';
        await moveIdea(tx, ideaId, from, to, reason ?? `paused by ${actor}`, { resumeStatus: from });
        break;
      case 'resume':
        if (from !== 'paused') throw new ConflictError('invalid_action', `cannot resume an idea that is ${from}`);
        to = idea.resume_status ?? 'registered';
        await moveIdea(tx, ideaId, from, to, null, { resumeStatus: null });
        break;
      case 'retry': {
        if (from !== 'blocked') throw new ConflictError('invalid_action', `only a blocked idea can be retried; this one is ${from}`);
        to = idea.resume_status ?? 'registered';
        const again = await tx`
          update codex_kb.tasks set state = 'queued', not_before = null, state_reason = ${`retried by ${actor}`},
                 max_attempts = attempts + ${deps.config.lifecycle.maxAttempts}
           where idea_id = ${ideaId} and state in ('blocked', 'failed')
          returning id, stage`;
        if (to === 'qa_review' && again.length === 0) {
          // blocked by the review-cycle limit: one more fix cycle
          await tx`update codex_kb.ideas set review_cycles = greatest(0, review_cycles - 1) where id = ${ideaId}`;
          await tx`
            update codex_kb.tasks set state = 'queued', not_before = null, max_attempts = attempts + ${deps.config.lifecycle.maxAttempts}
             where idea_id = ${ideaId} and stage = 'implementation' and state = 'succeeded'`;
          to = 'running_tasks';
        }
        if (to === 'planning' && again.some((r) => r.stage === 'planning')) {
          // a rejected plan: plan again from registered
          to = 'registered';
          await moveIdea(tx, ideaId, from, to, null, { resumeStatus: null });
        } else {
          await moveIdea(tx, ideaId, from, to, null, { resumeStatus: null });
        }
        break;
      }
      case 'cancel': {
        if (TERMINAL_IDEA_STATUSES.includes(from)) throw new ConflictError('invalid_action', `cannot cancel an idea that is ${from}`);
        to = 'cancelled';
        const runs = await tx<{ external_run_id: string | null }[]>`
          update codex_kb.task_runs set status = 'cancelled', completed_at = now(), error_code = 'cancelled'
           where idea_id = ${ideaId} and status in ('queued', 'submitting', 'running')
          returning external_run_id`;
        for (const r of runs) if (r.external_run_id) toDelete.push(r.external_run_id);
        await tx`
          update codex_kb.tasks set state = 'cancelled', state_reason = ${`cancelled by ${actor}`}
           where idea_id = ${ideaId} and state not in ('succeeded', 'cancelled')`;
        await moveIdea(tx, ideaId, from, to, reason ?? `cancelled by ${actor}`);
        break;
      }
    }
    await appendAudit(tx, { actor, action: `idea.${action}`, subjectType: 'idea', subjectId: ideaId, ideaId, details: { from, to, ...(reason ? { reason } : {}) } });
    await tx`
      insert into codex_kb.run_events (idea_id, event_type, actor, payload)
      values (${ideaId}, ${'idea.' + action}, ${actor}, ${tx.json({ from, to })})`;
    return { ideaId, action, from, status: to };
  }));
  for (const name of toDelete) {
    if (deps.workflows) await deleteWorkflow({ sql: deps.sql, workflows: deps.workflows }, name).catch((err) => deps.log.warn('cancel: could not delete workflow', { workflow: name, error: messageOf(err) }));
  }
  return result;
}

export interface ApprovalResult {
  readonly approvalId: string;
  readonly ideaId: string;
  readonly taskId: string | null;
  readonly status: 'approved' | 'rejected';
}

/**
 * Decides a pending approval. Approved: the task it holds goes back to `pending` and the
 * scheduler promotes it when its other dependencies are met; when the idea waited and no
 * other approval is pending, it goes back to where it was (releaseIdea) and, if its
 * implementation was done, on to review. Rejected: the task and its
 * idea are blocked with the reason. Attributed in the audit log.
 */
export async function decideApproval(deps: OperatorDeps, approvalId: string, decision: 'approve' | 'reject', actor: string, note?: string): Promise<ApprovalResult> {
  if (!isUuid(approvalId)) throw new NotFoundError(`no approval ${approvalId}`);
  const [peek] = await deps.sql<{ idea_id: string }[]>`select idea_id from codex_kb.approvals where id = ${approvalId}`;
  if (!peek) throw new NotFoundError(`no approval ${approvalId}`);
  return (await transaction(deps.sql, [`idea:${peek.idea_id}`], async (tx) => {
    const status = decision === 'approve' ? 'approved' : 'rejected';
    const [a] = await tx<{ id: string; idea_id: string; task_id: string | null; checkpoint: string }[]>`
      update codex_kb.approvals set status = ${status}, decided_by = ${actor}, decision_note = ${note ?? null}, decided_at = now()
       where id = ${approvalId} and status = 'pending'
      returning id, idea_id, task_id, checkpoint`;
    if (!a) throw new ConflictError('already_decided', 'this approval was already decided');
    if (status === 'approved') {
      if (a.task_id) await tx`update codex_kb.tasks set state = 'pending', state_reason = null where id = ${a.task_id} and state = 'awaiting_approval'`;
      if ((await releaseIdea(tx, a.idea_id)) === 'running_tasks') await afterImplementation(tx, deps.config, a.idea_id);
    } else {
      const why = `approval ${a.id} (${a.checkpoint}) rejected by ${actor}${note ? `: ${note}` : ''}`;
      // an idea-wide approval (an L0 plan) held every task that waited with it
      if (a.task_id) await tx`update codex_kb.tasks set state = 'blocked', state_reason = ${why} where id = ${a.task_id} and state = 'awaiting_approval'`;
      else await tx`update codex_kb.tasks set state = 'blocked', state_reason = ${why} where idea_id = ${a.idea_id} and state = 'awaiting_approval'`;
      const [idea] = await tx<{ status: IdeaStatus; resume_status: IdeaStatus | null }[]>`select status, resume_status from codex_kb.ideas where id = ${a.idea_id}`;
      if (idea && !TERMINAL_IDEA_STATUSES.includes(idea.status) && idea.status !== 'blocked') {
        // a retry goes back to what the idea waited to resume, not to the wait itself
        const resume = idea.status === 'awaiting_approval' ? (idea.resume_status ?? idea.status) : idea.status;
        await moveIdea(tx, a.idea_id, idea.status, 'blocked', why, { resumeStatus: resume });
      }
    }
    await appendAudit(tx, { actor, action: `approval.${decision}`, subjectType: 'approval', subjectId: a.id, ideaId: a.idea_id, details: { taskId: a.task_id, checkpoint: a.checkpoint, ...(note ? { note } : {}) } });
    return { approvalId: a.id, ideaId: a.idea_id, taskId: a.task_id, status };
  }));
}
