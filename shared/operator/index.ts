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
import { deleteWorkflow } from '../dispatch/index.js';
import { isUuid } from '../validation/index.js';
import { castVote, type Decision, type Principal, type VoteOutcome } from '../approvals/index.js';
import { recordStageSpansOnCommit } from '../lifecycle/stage-spans.js';

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
        const runs = await tx<{ id: string; external_run_id: string | null }[]>`
          update codex_kb.task_runs set status = 'cancelled', completed_at = now(), error_code = 'cancelled'
           where idea_id = ${ideaId} and status in ('queued', 'submitting', 'running')
          returning id, external_run_id`;
        for (const r of runs) if (r.external_run_id) toDelete.push(r.external_run_id);
        await recordStageSpansOnCommit(tx, runs.map((r) => r.id));
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

/**
 * Decides a pending approval as today's one-shot routes do — now as one vote by `voter`:
 * it counts (or is refused, with why) like any other, and decides the approval only when it
 * reaches the approval's quorum or is a counted reject (shared/approvals/votes.ts).
 */
export async function decideApproval(
  deps: Pick<OperatorDeps, 'sql' | 'config'>,
  approvalId: string, decision: Decision, voter: Principal, note?: string, actor?: string,
): Promise<VoteOutcome> {
  return castVote(deps.sql, approvalId, { voter, decision, reason: note, source: 'api', ...(actor ? { actor } : {}) }, { eventsTopic: deps.config.topics.events, lifecycle: deps.config });
}
