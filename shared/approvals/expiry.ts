// Approvals that nobody decided in time. The dispatch tick calls `expireApprovals`: each
// pending approval past its `expires_at` becomes `expired`, under its idea's lock, and then,
// as the approval's `on_expiry` says (copied from the pack when it was requested): `block`
// blocks the task and the idea with the reason; `reask` asks again — a new pending approval
// with the same findings, quorum and voters, and a fresh expiry as long as the first one's.
import { appendAudit } from '../audit/index.js';
import { transaction, type Sql } from '../db/index.js';
import { announce, applyBlocked, DEFAULT_EVENTS_TOPIC, type DecidedApproval } from './decide.js';

export interface ExpiryOptions {
  readonly eventsTopic?: string;
  /** At most this many per call; the next tick takes the rest. */
  readonly limit?: number;
}

/** Expires what is due; returns how many approvals expired. */
export async function expireApprovals(sql: Sql, opts: ExpiryOptions = {}): Promise<number> {
  const topic = opts.eventsTopic ?? DEFAULT_EVENTS_TOPIC;
  const due = await sql<{ id: string; idea_id: string }[]>`
    select id, idea_id from codex_kb.approvals
     where status = 'pending' and expires_at <= now()
     order by expires_at limit ${opts.limit ?? 100}`;
  let expired = 0;
  for (const d of due) {
    const done = await transaction(sql, [`idea:${d.idea_id}`], async (tx) => {
      // Guarded: a vote that decided it first, or a concurrent tick, leaves nothing to do.
      const [a] = await tx<(DecidedApproval & { on_expiry: 'block' | 'reask'; expires_at: Date; lifetime_s: number })[]>`
        update codex_kb.approvals set status = 'expired', decided_by = 'expiry', decided_at = now()
         where id = ${d.id} and status = 'pending' and expires_at <= now()
        returning id, idea_id, task_id, checkpoint, on_expiry, expires_at,
                  greatest(extract(epoch from (expires_at - created_at)), 1)::float8 as lifetime_s`;
      if (!a) return false;
      let replacedBy: string | null = null;
      if (a.on_expiry === 'reask') {
        const [fresh] = await tx<{ id: string }[]>`
          insert into codex_kb.approvals (idea_id, task_id, checkpoint, reason, requested_by, required, eligible, expires_at,
                                          on_expiry, effective_policy_hash, findings)
          select idea_id, task_id, checkpoint, reason, requested_by, required, eligible, now() + make_interval(secs => ${a.lifetime_s}),
                 on_expiry, effective_policy_hash, findings
            from codex_kb.approvals where id = ${a.id}
          returning id`;
        replacedBy = fresh!.id;
      } else {
        await applyBlocked(tx, a, `approval ${a.id} (${a.checkpoint}) expired at ${a.expires_at.toISOString()} without a decision`);
      }
      await appendAudit(tx, {
        actor: 'expiry', action: 'approval.expired', subjectType: 'approval', subjectId: a.id, ideaId: a.idea_id,
        details: { taskId: a.task_id, checkpoint: a.checkpoint, onExpiry: a.on_expiry, expiresAt: a.expires_at.toISOString(), ...(replacedBy ? { replacedBy } : {}) },
      });
      await announce(tx, topic, 'facteur.approval.expired', a, { status: 'expired', onExpiry: a.on_expiry, replacedBy });
      return true;
    });
    if (done) expired++;
  }
  return expired;
}
