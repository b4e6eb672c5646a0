// Escalation (seed 002): what an enforced failure at a checkpoint does.
//   approval  the tasks it concerns and the idea enter `awaiting_approval` (the idea's
//             status kept as its resume status), a pending approval carries the findings;
//             shared/approvals/release.ts lets them go once it is granted
//   block     the tasks and the idea are `blocked` with the reason (an operator's retry
//             gives them another round)
// Both announce themselves on the outbox. The caller holds the idea's lock.
import { requestApproval } from '../approvals/index.js';
import type { Config } from '../config/index.js';
import type { Tx } from '../db/index.js';
import type { CheckpointEvaluation } from '../policy/evaluate.js';
import { TERMINAL_IDEA_STATUSES, type IdeaStatus, type TaskState } from './states.js';
import { moveIdea, moveTask } from './transitions.js';

export interface EscalationTarget {
  readonly ideaId: string;
  /** The task the approval is for (null: the idea as a whole, such as an L0 plan). */
  readonly taskId: string | null;
  /** The tasks held or blocked with it (their current states must allow the move). */
  readonly holdTaskIds: readonly string[];
}

export interface Escalation {
  readonly decision: CheckpointEvaluation['decision'];
  readonly approvalId?: string;
}

const HOLDABLE: readonly TaskState[] = ['pending'];
const BLOCKABLE: readonly TaskState[] = ['pending', 'submitting', 'running', 'awaiting_approval'];

export async function escalate(tx: Tx, cfg: Pick<Config, 'topics'>, ev: CheckpointEvaluation, target: EscalationTarget): Promise<Escalation> {
  if (ev.decision === 'pass') return { decision: 'pass' };
  const reason = `policy ${ev.policy.document.key}@${ev.policy.document.version} at ${ev.checkpoint}: ${ev.reason}`.slice(0, 4000);
  const failed = ev.findings.filter((f) => f.enforced).map((f) => ({ rule: f.rule, result: f.result, severity: f.severity, message: f.message, approvable: f.approvable, properties: f.properties }));
  const [idea] = await tx<{ status: IdeaStatus }[]>`select status from codex_kb.ideas where id = ${target.ideaId}`;
  let approvalId: string | undefined;
  if (ev.decision === 'approval') {
    approvalId = await requestApproval(tx, { ideaId: target.ideaId, taskId: target.taskId, checkpoint: ev.checkpoint, reason, findings: failed, policy: ev.policy });
    for (const id of target.holdTaskIds) await moveTask(tx, id, HOLDABLE, 'awaiting_approval', reason);
    if (idea && !TERMINAL_IDEA_STATUSES.includes(idea.status) && !['awaiting_approval', 'blocked', 'paused'].includes(idea.status)) {
      await moveIdea(tx, target.ideaId, idea.status, 'awaiting_approval', reason, { resumeStatus: idea.status });
    }
  } else {
    for (const id of target.holdTaskIds) await moveTask(tx, id, BLOCKABLE, 'blocked', reason);
    if (idea && !TERMINAL_IDEA_STATUSES.includes(idea.status) && idea.status !== 'blocked') {
      // what it was doing, or (when it waited for an approval) what it waited to go back to
      const [row] = await tx<{ resume_status: IdeaStatus | null }[]>`select resume_status from codex_kb.ideas where id = ${target.ideaId}`;
      const resume = idea.status === 'awaiting_approval' || idea.status === 'paused' ? (row?.resume_status ?? idea.status) : idea.status;
      await moveIdea(tx, target.ideaId, idea.status, 'blocked', reason, { resumeStatus: resume });
    }
  }
  const type = ev.decision === 'approval' ? 'facteur.idea.awaiting_approval' : 'facteur.idea.blocked';
  await tx`
    insert into codex_kb.outbox (type, source, subject, topic, key, data)
    values (${type}, '/facteur/policy', ${target.ideaId}, ${cfg.topics.events}, ${target.ideaId},
            ${tx.json({ ideaId: target.ideaId, taskId: target.taskId, taskIds: target.holdTaskIds, checkpoint: ev.checkpoint, approvalId: approvalId ?? null, reason, effectivePolicyHash: ev.hash, evaluationId: ev.evaluationId, findings: failed.map((f) => ({ rule: f.rule, result: f.result, message: f.message })) } as never)})`;
  return { decision: ev.decision, ...(approvalId ? { approvalId } : {}) };
}
