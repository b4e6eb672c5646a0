// Approvals: a human's say where policy asks for one. An approval is requested by policy at
// a checkpoint with the findings that need it; how many votes decide it, who may vote and
// until when come from the effective policy's `approvals` section, copied onto the row so a
// later change of the pack does not move a request already made.
import type { Tx } from '../db/index.js';
import type { EffectivePolicy } from '../policy/effective.js';

export { castVote, tallyOf, type ApprovalStatus, type Decision, type Tally, type VoteInput, type VoteOutcome } from './votes.js';
export { expireApprovals, type ExpiryOptions } from './expiry.js';
export { APPROVAL_STATES, listApprovals, parseApprovalQuery, type ApprovalQuery, type ApprovalState } from './list.js';
export { handleGithubWebhook, parseCommand, verifySignature, WebhookSignatureError, TRUSTED_ASSOCIATIONS, type WebhookOutcome } from './github.js';
export { isEligible, refusalOf, type Eligible, type Principal } from './principal.js';
export { releaseIdea } from './release.js';

export interface ApprovalRequest {
  readonly ideaId: string;
  readonly taskId: string | null;
  /** The checkpoint that asks: `plan`, `claim`, `post-implementation`, `pre-merge`, `pre-deploy`. */
  readonly checkpoint: string;
  /** What a person reads: the failed findings' messages. */
  readonly reason: string;
  /** The findings that need it (rule, message, …), as recorded. */
  readonly findings: readonly Record<string, unknown>[];
  readonly policy: Pick<EffectivePolicy, 'document' | 'hash'>;
  /** Who asks: `policy` unless an operator does. */
  readonly requestedBy?: string;
}

/**
 * Records a pending approval (in the caller's transaction, under the idea's lock); returns
 * its id. A pending approval for the same task and checkpoint is reused, not doubled.
 */
export async function requestApproval(tx: Tx, r: ApprovalRequest): Promise<string> {
  if (r.taskId) {
    const [open] = await tx<{ id: string }[]>`
      select id from codex_kb.approvals where task_id = ${r.taskId} and checkpoint = ${r.checkpoint} and status = 'pending' limit 1`;
    if (open) return open.id;
  }
  const a = r.policy.document.approvals;
  const [row] = await tx<{ id: string }[]>`
    insert into codex_kb.approvals (idea_id, task_id, checkpoint, reason, requested_by, required, eligible, expires_at,
                                    on_expiry, effective_policy_hash, findings)
    values (${r.ideaId}, ${r.taskId}, ${r.checkpoint}, ${r.reason}, ${r.requestedBy ?? 'policy'}, ${a.required},
            ${tx.json(a.eligible as never)}, ${a.expiresAfterH === undefined ? null : new Date(Date.now() + a.expiresAfterH * 3_600_000)},
            ${a.onExpiry}, ${r.policy.hash}, ${tx.json(r.findings as never)})
    returning id`;
  return row!.id;
}
