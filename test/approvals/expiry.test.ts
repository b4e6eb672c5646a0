// Expiry in the dispatch tick (POST /tick over real HTTP), with time moved in the database:
// `block` blocks the task and the idea with the reason, `reask` replaces the approval with a
// new pending one (same findings, a fresh expiry of the same length). Audited, announced.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, tick, type System } from '../helpers/system.js';
import { stateOf, waitingIdea } from './fixture.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys.close();
});

/** Moves the approval's clock: it was asked `hours` ago and expires a second ago. */
async function age(approvalId: string, hours: number) {
  await sys.db.sql`
    update codex_kb.approvals set created_at = now() - make_interval(hours => ${hours}) - interval '1 second',
                                  expires_at = now() - interval '1 second'
     where id = ${approvalId}`;
}

describe('approval expiry', () => {
  it('nothing expires before its time', async () => {
    const w = await waitingIdea(sys, { expiresAfterH: 2 });
    expect((await tick(sys)).expiredApprovals).toBe(0);
    expect(await stateOf(sys, w)).toMatchObject({ approval: 'pending', task: 'awaiting_approval', idea: 'awaiting_approval' });
  });

  it('on_expiry block: expired, the task and the idea blocked with the reason', async () => {
    const w = await waitingIdea(sys, { expiresAfterH: 2, onExpiry: 'block' });
    await age(w.approvalId, 2);
    expect((await tick(sys)).expiredApprovals).toBe(1);
    const s = await stateOf(sys, w);
    expect(s).toMatchObject({ approval: 'expired', task: 'blocked', idea: 'blocked' });
    expect(s.idea_reason).toMatch(new RegExp(`^approval ${w.approvalId} \\(plan\\) expired at .* without a decision$`));
    expect(s.task_reason).toBe(s.idea_reason);
    const [audit] = await sys.db.sql`select actor, details from codex_kb.audit_log where subject_id = ${w.approvalId} and action = 'approval.expired'`;
    expect(audit).toMatchObject({ actor: 'expiry', details: { onExpiry: 'block' } });
    const [event] = await sys.db.sql`select data from codex_kb.outbox where subject = ${w.ideaId} and type = 'facteur.approval.expired'`;
    expect(event!.data).toMatchObject({ approvalId: w.approvalId, onExpiry: 'block', replacedBy: null });
    expect((await tick(sys)).expiredApprovals).toBe(0); // once
  });

  it('on_expiry reask: a new pending approval with the same findings and a fresh expiry replaces it', async () => {
    const w = await waitingIdea(sys, { expiresAfterH: 2, onExpiry: 'reask', required: 2, eligible: { logins: ['alice'] } });
    await age(w.approvalId, 2);
    expect((await tick(sys)).expiredApprovals).toBe(1);
    const rows = await sys.db.sql<{ id: string; status: string; findings: unknown; required: number; eligible: unknown; checkpoint: string; ttl_h: number }[]>`
      select id, status, findings, required, eligible, checkpoint,
             round(extract(epoch from (expires_at - now())) / 3600)::int as ttl_h
        from codex_kb.approvals where idea_id = ${w.ideaId} order by created_at`;
    expect(rows.map((r) => r.status)).toEqual(['expired', 'pending']);
    const [old, fresh] = rows;
    expect(fresh).toMatchObject({ findings: old!.findings, required: 2, eligible: old!.eligible, checkpoint: 'plan', ttl_h: 2 });
    const [t] = await sys.db.sql`select state from codex_kb.tasks where id = ${w.taskId}`;
    const [i] = await sys.db.sql`select status from codex_kb.ideas where id = ${w.ideaId}`;
    expect([t!.state, i!.status]).toEqual(['awaiting_approval', 'awaiting_approval']); // still waiting, on the new one
    const [event] = await sys.db.sql`select data from codex_kb.outbox where subject = ${w.ideaId} and type = 'facteur.approval.expired'`;
    expect(event!.data).toMatchObject({ approvalId: w.approvalId, onExpiry: 'reask', replacedBy: fresh!.id });
  });
});
