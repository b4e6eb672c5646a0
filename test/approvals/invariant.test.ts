// The chaos invariant `approval_votes` finds what it says it finds: a planted self-approval
// and a decision without its votes, on a database where castVote did everything else right.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalVotes } from '../chaos/invariants/approvals.js';
import { History } from '../chaos/history.js';
import { startSystem, type System } from '../helpers/system.js';
import { vote, waitingIdea } from './fixture.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys.close();
});

describe('the approval_votes chaos invariant', () => {
  it('is 0 on votes castVote recorded, and counts a planted self-approval and an unbacked approval', async () => {
    const ok = await waitingIdea(sys, { required: 2 }, { initiator: 'octocat' });
    await vote(sys, ok.approvalId, 'octocat', 'approve');
    await vote(sys, ok.approvalId, 'alice', 'approve');
    await vote(sys, ok.approvalId, 'bob', 'approve');
    const clean = await approvalVotes.check(new History(), sys.db.sql);
    expect(clean.violations, clean.examples.join('\n')).toBe(0);

    const bad = await waitingIdea(sys, { required: 2 }, { initiator: 'mallory' });
    await sys.db.sql`insert into codex_kb.approval_votes (approval_id, voter, decision, source, counted) values (${bad.approvalId}, 'mallory', 'approve', 'api', true)`;
    await sys.db.sql`update codex_kb.approvals set status = 'approved', decided_by = 'mallory' where id = ${bad.approvalId}`;
    const found = await approvalVotes.check(new History(), sys.db.sql);
    expect(found.examples).toEqual([
      `approval ${bad.approvalId}: the initiator mallory's approval was counted`,
      `approval ${bad.approvalId}: approved with 1 of 2 approvals and 0 rejects`,
    ]);
  });
});
