// 0 votes counted twice and 0 self-approvals, on what the database holds at the end:
// - at most one counted vote per (approval, voter);
// - no counted approval by the idea's initiator;
// - every approved approval has at least `required` counted approvals and no counted reject,
//   every rejected one a counted reject, and each was decided once (one audit entry, one
//   outbox event).
// and on what the voter double was answered (the governed load, test/chaos/governance.ts):
// - the initiator's and the outsider's votes were never answered as counted;
// - of one person's votes on one approval (the same vote sent twice at once to two
//   instances, retries after a lost answer), at most one was answered as counted.
import type { Sql } from '../../../shared/db/index.js';
import type { History, VoteRecord } from '../history.js';
import { result, type Invariant } from './index.js';

export const approvalVotes: Invariant = {
  name: 'approval_votes',
  description: 'no vote counted twice, no self-approval, every decision backed by its votes and made once',
  async check(h: History, db: Sql) {
    const p: string[] = [];
    for (const r of await db`
      select approval_id, voter, count(*)::int as n from codex_kb.approval_votes where counted
       group by approval_id, voter having count(*) > 1`) p.push(`approval ${r.approval_id}: ${r.voter} counted ${r.n} times`);
    for (const r of await db`
      select v.approval_id, v.voter from codex_kb.approval_votes v
        join codex_kb.approvals a on a.id = v.approval_id join codex_kb.ideas i on i.id = a.idea_id
       where v.counted and v.decision = 'approve' and lower(i.initiator->>'login') = v.voter`) p.push(`approval ${r.approval_id}: the initiator ${r.voter}'s approval was counted`);
    for (const r of await db`
      select a.id, a.status, a.required,
             count(*) filter (where v.counted and v.decision = 'approve')::int as approves,
             count(*) filter (where v.counted and v.decision = 'reject')::int as rejects
        from codex_kb.approvals a left join codex_kb.approval_votes v on v.approval_id = a.id
       where a.status in ('approved', 'rejected') and a.decided_by is distinct from 'expiry'
         and exists (select 1 from codex_kb.approval_votes x where x.approval_id = a.id)
       group by a.id`) {
      if (r.status === 'approved' && (r.approves < r.required || r.rejects > 0)) p.push(`approval ${r.id}: approved with ${r.approves} of ${r.required} approvals and ${r.rejects} rejects`);
      if (r.status === 'rejected' && r.rejects === 0) p.push(`approval ${r.id}: rejected without a counted reject`);
    }
    for (const r of await db`
      select subject_id, count(*)::int as n from codex_kb.audit_log
       where action in ('approval.approved', 'approval.rejected', 'approval.expired') group by subject_id having count(*) > 1`) p.push(`approval ${r.subject_id}: decided ${r.n} times`);
    p.push(...answeredTwice(h));
    const [n] = await db<{ votes: number; approvals: number }[]>`
      select (select count(*)::int from codex_kb.approval_votes) as votes, (select count(*)::int from codex_kb.approvals) as approvals`;
    const cast = h.votes.filter((v) => v.status < 300);
    const counted = cast.filter((v) => (v.body as { counted?: unknown }).counted === true).length;
    return result('approval_votes', p, `${n!.votes} votes on ${n!.approvals} approvals checked; the voter double cast ${h.votes.length}: ${counted} answered counted, ${cast.length - counted} refused, ${h.votes.length - cast.length} 4xx`);
  },
};

/** What the voter double was answered that no correct system answers. */
function answeredTwice(h: History): string[] {
  const p: string[] = [];
  const isCounted = (v: VoteRecord) => v.status < 300 && (v.body as { counted?: unknown }).counted === true;
  for (const v of h.votes) {
    if ((v.why === 'self' || v.why === 'outsider') && isCounted(v)) p.push(`approval ${v.approvalId}: ${v.why} vote by ${v.voter} was answered counted`);
  }
  const byPerson = new Map<string, VoteRecord[]>();
  for (const v of h.votes) {
    const key = `${v.approvalId}/${v.voter}`;
    byPerson.set(key, [...(byPerson.get(key) ?? []), v]);
  }
  for (const [key, votes] of byPerson) {
    const n = votes.filter(isCounted).length;
    if (n > 1) p.push(`approval ${key.replace('/', ': ')} was answered counted ${n} times`);
  }
  return p;
}
