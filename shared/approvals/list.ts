// The approvals read model of the status API: approvals in one state, newest first, each
// with its votes (counted and refused, with why) and its tally.
import type { Queryable } from '../db/index.js';
import { ValidationError, type Issue } from '../errors/index.js';

export const APPROVAL_STATES = ['pending', 'approved', 'rejected', 'expired'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

export interface ApprovalQuery {
  readonly state: ApprovalState;
  readonly limit: number;
}

export function parseApprovalQuery(q: URLSearchParams): ApprovalQuery {
  const issues: Issue[] = [];
  let state: ApprovalState = 'pending';
  let limit = 50;
  const s = q.get('state');
  if (s !== null) {
    if ((APPROVAL_STATES as readonly string[]).includes(s)) state = s as ApprovalState;
    else issues.push({ path: 'state', message: `must be one of ${APPROVAL_STATES.join(', ')}` });
  }
  const l = q.get('limit');
  if (l !== null) {
    const n = Number(l);
    if (Number.isInteger(n) && n >= 1 && n <= 200) limit = n;
    else issues.push({ path: 'limit', message: 'must be an integer from 1 to 200' });
  }
  for (const key of new Set(q.keys())) if (key !== 'state' && key !== 'limit') issues.push({ path: key.slice(0, 100), message: 'unknown query parameter' });
  if (issues.length) throw new ValidationError('invalid query', issues);
  return { state, limit };
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export async function listApprovals(sql: Queryable, q: ApprovalQuery): Promise<{ items: Record<string, unknown>[] }> {
  const rows = await sql`
    select a.*, i.title as idea_title, i.repository
      from codex_kb.approvals a join codex_kb.ideas i on i.id = a.idea_id
     where a.status = ${q.state}
     order by a.created_at desc, a.id desc
     limit ${q.limit}`;
  const ids = rows.map((r) => r.id as string);
  const votes = ids.length
    ? await sql`
        select id::text, approval_id, voter, decision, reason, source, counted, refused_reason, created_at
          from codex_kb.approval_votes where approval_id = any(${ids}::uuid[]) order by approval_votes.id`
    : [];
  return {
    items: rows.map((a) => {
      const mine = votes.filter((v) => v.approval_id === a.id);
      return {
        id: a.id, ideaId: a.idea_id, ideaTitle: a.idea_title, repository: a.repository, taskId: a.task_id, checkpoint: a.checkpoint,
        reason: a.reason, status: a.status, required: a.required, eligible: a.eligible, expiresAt: iso(a.expires_at as Date | null),
        onExpiry: a.on_expiry, effectivePolicyHash: a.effective_policy_hash, findings: a.findings, requestedBy: a.requested_by,
        decidedBy: a.decided_by, decisionNote: a.decision_note, requestedAt: iso(a.created_at as Date), decidedAt: iso(a.decided_at as Date | null),
        tally: {
          approve: mine.filter((v) => v.counted && v.decision === 'approve').length,
          reject: mine.filter((v) => v.counted && v.decision === 'reject').length,
          refused: mine.filter((v) => !v.counted).length,
          required: a.required,
        },
        votes: mine.map((v) => ({
          id: v.id, voter: v.voter, decision: v.decision, reason: v.reason, source: v.source, counted: v.counted,
          refusedReason: v.refused_reason, at: iso(v.created_at as Date),
        })),
      };
    }),
  };
}
