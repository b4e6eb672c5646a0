// Votes on an approval: each one its own append-only row, counted or refused with why.
// Everything happens under the idea's advisory lock, so two votes on one approval are
// judged one after the other: a person never counts twice (the partial unique index on
// counted votes backs that under any interleaving) and `required` is passed exactly once.
import { appendAudit } from '../audit/index.js';
import { transaction, type Sql, type Tx } from '../db/index.js';
import { ConflictError, NotFoundError } from '../errors/index.js';
import { isUuid } from '../validation/index.js';
import type { LifecycleConfig } from '../lifecycle/advance.js';
import { announce, applyApproved, applyBlocked, DEFAULT_EVENTS_TOPIC, type DecidedApproval } from './decide.js';
import { refusalOf, type Eligible, type Principal } from './principal.js';

export type Decision = 'approve' | 'reject';
export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired';

export interface VoteInput {
  readonly voter: Principal;
  readonly decision: Decision;
  readonly reason?: string | undefined;
  readonly source: 'api' | 'github';
  /** GitHub's `X-GitHub-Delivery`: a redelivery finds its vote and changes nothing. */
  readonly deliveryId?: string | undefined;
  /** Who authored the change, as the caller knows it (a webhook's pull request author). */
  readonly authors?: readonly string[];
  /** A refusal the caller already found (GitHub's `author_association`); recorded, no effect. */
  readonly refusal?: string | undefined;
  /** Who the audit log names; `<source>:<voter>` when absent. */
  readonly actor?: string;
}

export interface Tally {
  readonly approve: number;
  readonly reject: number;
  readonly refused: number;
  readonly required: number;
}

export interface VoteOutcome {
  readonly approvalId: string;
  readonly ideaId: string;
  readonly taskId: string | null;
  readonly voteId: string;
  readonly voter: string;
  readonly decision: Decision;
  readonly counted: boolean;
  readonly refusedReason: string | null;
  /** The approval's state after this vote. */
  readonly status: ApprovalStatus;
  readonly tally: Tally;
  /** The same delivery was recorded before: this outcome is that vote's, nothing changed. */
  readonly duplicate: boolean;
}

type ApprovalRow = DecidedApproval & { status: ApprovalStatus; required: number; eligible: Eligible; past: boolean; initiator: string | null };

export async function tallyOf(tx: Tx | Sql, approvalId: string, required: number): Promise<Tally> {
  const [t] = await tx<{ approve: number; reject: number; refused: number }[]>`
    select count(*) filter (where counted and decision = 'approve')::int as approve,
           count(*) filter (where counted and decision = 'reject')::int as reject,
           count(*) filter (where not counted)::int as refused
      from codex_kb.approval_votes where approval_id = ${approvalId}`;
  return { approve: t!.approve, reject: t!.reject, refused: t!.refused, required };
}

/**
 * Who authored the change, as facteur-agent's artifacts name it: the pull request author
 * (`author`, a login or `{login}`) on the idea's `diff-stats` artifacts, and on each branch
 * an `integration` merged. facteur-agent opens the pull requests with the token it is given,
 * so the author is that token's account — a person's, when a team runs the agent with one.
 * GitHub votes add the pull request's `user.login` from the webhook itself.
 */
async function artifactAuthors(tx: Tx, ideaId: string): Promise<string[]> {
  const rows = await tx<{ author: string }[]>`
    select distinct a.author from (
      select case jsonb_typeof(x.data->'author') when 'string' then x.data->>'author' when 'object' then x.data->'author'->>'login' end as author
        from codex_kb.artifacts art
        cross join lateral (select art.data union all
                            select b from jsonb_array_elements(case jsonb_typeof(art.data->'branches') when 'array' then art.data->'branches' else '[]' end) b) x(data)
       where art.idea_id = ${ideaId} and art.artifact_type in ('integration', 'diff-stats') and jsonb_typeof(x.data) = 'object'
    ) a where a.author is not null`;
  return rows.map((r) => r.author);
}

/**
 * Casts one vote. 404 for an approval that does not exist; 409 when it is no longer pending
 * or past its expiry (the tick expires it); otherwise the vote is recorded, counted or
 * refused, and the approval decided when it reaches its quorum or a counted reject.
 */
export async function castVote(sql: Sql, approvalId: string, v: VoteInput, opts: { eventsTopic?: string; lifecycle?: LifecycleConfig } = {}): Promise<VoteOutcome> {
  if (!isUuid(approvalId)) throw new NotFoundError(`no approval ${approvalId.slice(0, 40)}`);
  const [peek] = await sql<{ idea_id: string }[]>`select idea_id from codex_kb.approvals where id = ${approvalId}`;
  if (!peek) throw new NotFoundError(`no approval ${approvalId}`);
  const voter = v.voter.name.toLowerCase();
  return transaction(sql, [`idea:${peek.idea_id}`], async (tx) => {
    if (v.deliveryId !== undefined) {
      const [seen] = await tx<{ id: string; approval_id: string; voter: string; decision: Decision; counted: boolean; refused_reason: string | null }[]>`
        select id::text, approval_id, voter, decision, counted, refused_reason from codex_kb.approval_votes where delivery_id = ${v.deliveryId}`;
      if (seen) return replay(tx, seen);
    }
    const [a] = await tx<ApprovalRow[]>`
      select a.id, a.idea_id, a.task_id, a.checkpoint, a.status, a.required, a.eligible,
             coalesce(a.expires_at <= now(), false) as past, i.initiator->>'login' as initiator
        from codex_kb.approvals a join codex_kb.ideas i on i.id = a.idea_id
       where a.id = ${approvalId}`;
    if (!a) throw new NotFoundError(`no approval ${approvalId}`);
    if (a.status !== 'pending') throw new ConflictError('already_decided', `approval ${a.id} is ${a.status}: it takes no more votes`);
    if (a.past) throw new ConflictError('expired', `approval ${a.id} is past its expiry: it takes no more votes`);
    const voted = await tx<{ voter: string }[]>`select voter from codex_kb.approval_votes where approval_id = ${a.id} and counted`;
    const authors = [...(v.authors ?? []), ...(await artifactAuthors(tx, a.idea_id))];
    let refusal = v.refusal ?? refusalOf(v.voter, v.decision, { eligible: a.eligible ?? {}, initiator: a.initiator, authors, voted: voted.map((r) => r.voter) });
    const reason = v.reason ?? null;
    let id: string | undefined;
    if (refusal === undefined) {
      // The index, not only the read above, keeps one counted vote per person.
      const [row] = await tx<{ id: string }[]>`
        insert into codex_kb.approval_votes (approval_id, voter, decision, reason, source, counted, delivery_id)
        values (${a.id}, ${voter}, ${v.decision}, ${reason}, ${v.source}, true, ${v.deliveryId ?? null})
        on conflict (approval_id, voter) where counted do nothing
        returning id::text`;
      id = row?.id;
      if (!id) refusal = 'already voted';
    }
    if (!id) {
      const [row] = await tx<{ id: string }[]>`
        insert into codex_kb.approval_votes (approval_id, voter, decision, reason, source, counted, refused_reason, delivery_id)
        values (${a.id}, ${voter}, ${v.decision}, ${reason}, ${v.source}, false, ${refusal!}, ${v.deliveryId ?? null})
        returning id::text`;
      id = row!.id;
    }
    const actor = v.actor ?? `${v.source}:${voter}`;
    await appendAudit(tx, {
      actor, action: refusal ? 'approval.vote_refused' : 'approval.vote', subjectType: 'approval', subjectId: a.id, ideaId: a.idea_id,
      details: { voteId: id, voter, decision: v.decision, source: v.source, ...(reason ? { reason } : {}), ...(refusal ? { refused: refusal } : {}), ...(v.deliveryId ? { deliveryId: v.deliveryId } : {}) },
    });
    const tally = await tallyOf(tx, a.id, a.required);
    let status: ApprovalStatus = 'pending';
    if (!refusal) status = await decideIfDone(tx, a, v, voter, actor, tally, opts.eventsTopic ?? DEFAULT_EVENTS_TOPIC, opts.lifecycle);
    return { approvalId: a.id, ideaId: a.idea_id, taskId: a.task_id, voteId: id, voter, decision: v.decision, counted: !refusal, refusedReason: refusal ?? null, status, tally, duplicate: false };
  });
}

/** A counted reject decides at once; approvals decide when they reach `required`. */
async function decideIfDone(tx: Tx, a: ApprovalRow, v: VoteInput, voter: string, actor: string, tally: Tally, topic: string, lifecycle?: LifecycleConfig): Promise<ApprovalStatus> {
  const status = v.decision === 'reject' ? 'rejected' : tally.approve >= a.required ? 'approved' : 'pending';
  if (status === 'pending') return status;
  const decided = await tx`
    update codex_kb.approvals set status = ${status}, decided_by = ${voter}, decision_note = ${v.reason ?? null}, decided_at = now()
     where id = ${a.id} and status = 'pending' returning id`;
  // Under the idea's lock nothing else decides it; a miss would be a bug, not a race to win.
  if (decided.length !== 1) throw new ConflictError('already_decided', `approval ${a.id} was decided meanwhile`);
  if (status === 'approved') await applyApproved(tx, a, lifecycle);
  else await applyBlocked(tx, a, `approval ${a.id} (${a.checkpoint}) rejected by ${voter}${v.reason ? `: ${v.reason}` : ''}`);
  await appendAudit(tx, { actor, action: `approval.${status}`, subjectType: 'approval', subjectId: a.id, ideaId: a.idea_id, details: { taskId: a.task_id, checkpoint: a.checkpoint, tally } });
  await announce(tx, topic, 'facteur.approval.decided', a, { status, decidedBy: voter, tally });
  return status;
}

/** The outcome of a vote recorded before (same delivery), read back as it stands now. */
async function replay(tx: Tx, seen: { id: string; approval_id: string; voter: string; decision: Decision; counted: boolean; refused_reason: string | null }): Promise<VoteOutcome> {
  const [a] = await tx<{ idea_id: string; task_id: string | null; status: ApprovalStatus; required: number }[]>`
    select idea_id, task_id, status, required from codex_kb.approvals where id = ${seen.approval_id}`;
  return {
    approvalId: seen.approval_id, ideaId: a!.idea_id, taskId: a!.task_id, voteId: seen.id, voter: seen.voter, decision: seen.decision,
    counted: seen.counted, refusedReason: seen.refused_reason, status: a!.status, tally: await tallyOf(tx, seen.approval_id, a!.required), duplicate: true,
  };
}
