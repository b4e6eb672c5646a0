// 0 votes counted twice and 0 self-approvals, on what the database holds at the end:
// - at most one counted vote per (approval, voter);
// - no counted approval by the idea's initiator;
// - every approved approval has at least `required` counted approvals and no counted reject,
//   every rejected one a counted reject, and each was decided once (one audit entry, one
//   outbox event).
// The chaos ideas carry no approvals today (their packs ask for none), so on a chaos run this
// checks nothing but says so; it is in the registry so that ideas which do wait for humans
// are checked the day they exist.
import type { Sql } from '../../../shared/db/index.js';
import type { History } from '../history.js';
import { result, type Invariant } from './index.js';

export const approvalVotes: Invariant = {
  name: 'approval_votes',
  description: 'no vote counted twice, no self-approval, every decision backed by its votes and made once',
  async check(_h: History, db: Sql) {
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
    const [n] = await db<{ votes: number; approvals: number }[]>`
      select (select count(*)::int from codex_kb.approval_votes) as votes, (select count(*)::int from codex_kb.approvals) as approvals`;
    return result('approval_votes', p, `${n!.votes} votes on ${n!.approvals} approvals checked`);
  },
};
