// Votes racing on separate connections (separate pools, so separate PostgreSQL sessions):
// one person never counts twice, and `required` is passed once — one decision, one event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { castVote, type VoteOutcome } from '../../shared/approvals/index.js';
import { ConflictError } from '../../shared/errors/index.js';
import { PgCode } from '../../shared/db/index.js';
import { extraPool } from '../helpers/db.js';
import { startSystem, type System } from '../helpers/system.js';
import { waitingIdea } from './fixture.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys.close();
});

const roles = ['approver'] as const;

/** Every vote at once, each on a pool of its own; a 409 is an outcome too. */
async function race(approvalId: string, voters: string[]): Promise<(VoteOutcome | 'conflict')[]> {
  const pools = voters.map(() => extraPool(sys.db, 1));
  return Promise.all(voters.map((name, i) =>
    castVote(pools[i]!, approvalId, { voter: { name, roles: [...roles] }, decision: 'approve', source: 'api' }).catch((err) => {
      if (err instanceof ConflictError) return 'conflict' as const;
      throw err;
    })));
}

describe('concurrent votes', () => {
  it('the same person voting eight times at once counts once', async () => {
    const w = await waitingIdea(sys, { required: 3 });
    const out = await race(w.approvalId, ['alice', 'alice', 'Alice', 'alice', 'bob', 'bob', 'bob', 'ALICE']);
    const counted = out.filter((o): o is VoteOutcome => o !== 'conflict' && o.counted);
    expect(counted.map((o) => o.voter).sort()).toEqual(['alice', 'bob']);
    expect(out.filter((o) => o !== 'conflict' && !o.counted).every((o) => (o as VoteOutcome).refusedReason === 'already voted')).toBe(true);
    const rows = await sys.db.sql`select voter, count(*)::int as n from codex_kb.approval_votes where approval_id = ${w.approvalId} and counted group by voter order by voter`;
    expect(rows).toEqual([{ voter: 'alice', n: 1 }, { voter: 'bob', n: 1 }]);
    const [a] = await sys.db.sql`select status from codex_kb.approvals where id = ${w.approvalId}`;
    expect(a!.status).toBe('pending');
  });

  it('six people at once on a 2-of-M approval decide it once', async () => {
    const w = await waitingIdea(sys, { required: 2 });
    const out = await race(w.approvalId, ['a1', 'a2', 'a3', 'a4', 'a5', 'a6']);
    const counted = out.filter((o) => o !== 'conflict' && o.counted) as VoteOutcome[];
    expect(counted).toHaveLength(2);
    expect(counted.filter((o) => o.status === 'approved')).toHaveLength(1);
    expect(out.filter((o) => o === 'conflict')).toHaveLength(4); // the rest found it decided
    const decided = await sys.db.sql`select 1 from codex_kb.audit_log where subject_id = ${w.approvalId} and action = 'approval.approved'`;
    expect(decided).toHaveLength(1);
    const events = await sys.db.sql`select 1 from codex_kb.outbox where subject = ${w.ideaId} and type = 'facteur.approval.decided'`;
    expect(events).toHaveLength(1);
  });

  it('the partial unique index refuses a second counted vote even when the lock is bypassed', async () => {
    const w = await waitingIdea(sys, { required: 3 });
    await sys.db.sql`insert into codex_kb.approval_votes (approval_id, voter, decision, source, counted) values (${w.approvalId}, 'carol', 'approve', 'api', true)`;
    const again = sys.db.sql`insert into codex_kb.approval_votes (approval_id, voter, decision, source, counted) values (${w.approvalId}, 'carol', 'approve', 'api', true)`;
    await expect(again).rejects.toMatchObject({ code: PgCode.UNIQUE_VIOLATION });
  });
});
