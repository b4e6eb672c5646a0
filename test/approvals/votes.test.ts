// Votes through the status API (real HTTP, real PostgreSQL): N of M, no self-approval, one
// counted vote per person, eligibility from the approval row, 409 once decided or expired,
// and every vote in the audit log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type System } from '../helpers/system.js';
import { stateOf, vote, waitingIdea } from './fixture.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys.close();
});

describe('votes through POST /v1/approvals/{id}/votes', () => {
  it('2 of 3: the initiator\'s approval, a second vote and an ineligible login are refused and recorded; the second counted approval decides', async () => {
    const w = await waitingIdea(sys, { required: 2, eligible: { logins: ['alice', 'bob', 'carol', 'octocat'] } }, { initiator: 'octocat' });
    const self = await vote(sys, w.approvalId, 'octocat', 'approve');
    expect(self.status).toBe(200);
    expect(self.body).toMatchObject({ counted: false, refusedReason: "the idea's initiator cannot approve it", status: 'pending' });
    const first = await vote(sys, w.approvalId, 'alice', 'approve', 'looks fine');
    expect(first.body).toMatchObject({ counted: true, refusedReason: null, status: 'pending', tally: { approve: 1, reject: 0, refused: 1, required: 2 } });
    const again = await vote(sys, w.approvalId, 'ALICE', 'approve');
    expect(again.body).toMatchObject({ counted: false, refusedReason: 'already voted', status: 'pending' });
    const stranger = await vote(sys, w.approvalId, 'mallory', 'approve');
    expect(stranger.body).toMatchObject({ counted: false, status: 'pending' });
    expect(stranger.body.refusedReason).toMatch(/^not eligible/);
    // none of the refused votes moved anything
    expect(await stateOf(sys, w)).toMatchObject({ idea: 'awaiting_approval', task: 'awaiting_approval', approval: 'pending' });

    const second = await vote(sys, w.approvalId, 'bob', 'approve');
    expect(second.body).toMatchObject({ counted: true, status: 'approved', tally: { approve: 2, reject: 0, refused: 3, required: 2 } });
    expect(await stateOf(sys, w)).toMatchObject({ idea: 'registered', task: 'pending', approval: 'approved' });

    const late = await vote(sys, w.approvalId, 'carol', 'approve');
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('already_decided');

    const listed = await (await fetch(`${sys.urls.status}/v1/approvals?state=approved`)).json() as any;
    const mine = listed.items.find((a: any) => a.id === w.approvalId);
    expect(mine.tally).toEqual({ approve: 2, reject: 0, refused: 3, required: 2 });
    expect(mine.votes.map((v: any) => `${v.voter}:${v.counted ? 'counted' : v.refusedReason}`)).toEqual([
      "octocat:the idea's initiator cannot approve it", 'alice:counted', 'alice:already voted', expect.stringMatching(/^mallory:not eligible/), 'bob:counted',
    ]);
    const audit = await sys.db.sql`select action, actor from codex_kb.audit_log where subject_id = ${w.approvalId} order by id`;
    expect(audit.map((a) => a.action)).toEqual(['approval.vote_refused', 'approval.vote', 'approval.vote_refused', 'approval.vote_refused', 'approval.vote', 'approval.approved']);
    expect(audit[1]!.actor).toBe('alice via open');
    const events = await sys.db.sql`select type, data from codex_kb.outbox where subject = ${w.ideaId} and type like 'facteur.approval.%'`;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'facteur.approval.decided', data: { approvalId: w.approvalId, status: 'approved', decidedBy: 'bob' } });
  });

  it("the change's author, as facteur-agent's diff-stats and integration artifacts name it, cannot approve; may still reject", async () => {
    const w = await waitingIdea(sys, { required: 1 }, { initiator: 'octocat' });
    // the shapes facteur-agent reports: diff-stats with the pull request's author, integration with each merged branch's
    await sys.db.sql`insert into codex_kb.artifacts (idea_id, task_id, artifact_type, data) values
      (${w.ideaId}, ${w.taskId}, 'diff-stats', ${sys.db.sql.json({ base: 'a'.repeat(40), head: 'b'.repeat(40), files: [], added: 1, removed: 0, pullRequest: { number: 7, url: 'https://github.com/acme/web/pull/7' }, author: 'Dev-One' })}),
      (${w.ideaId}, ${w.taskId}, 'integration', ${sys.db.sql.json({ merged: true, sha: 'c'.repeat(40), branches: [{ key: 'core', branch: 'facteur/x/core', sha: 'c'.repeat(40), pr: 7, author: 'dev-two' }, 'not an object'] })})`;
    for (const login of ['dev-one', 'DEV-TWO']) {
      const r = await vote(sys, w.approvalId, login, 'approve');
      expect(r.body).toMatchObject({ counted: false, refusedReason: 'the author of the change cannot approve it', status: 'pending' });
    }
    const r = await vote(sys, w.approvalId, 'dev-one', 'reject', 'I found a bug in my own change');
    expect(r.body).toMatchObject({ counted: true, status: 'rejected' });
  });

  it('a counted reject blocks the task and the idea with the reason; the initiator may reject their own idea', async () => {
    const w = await waitingIdea(sys, { required: 2 }, { initiator: 'octocat' });
    const r = await vote(sys, w.approvalId, 'octocat', 'reject', 'not this way');
    expect(r.body).toMatchObject({ counted: true, status: 'rejected' });
    const s = await stateOf(sys, w);
    expect(s).toMatchObject({ idea: 'blocked', task: 'blocked', approval: 'rejected' });
    expect(s.idea_reason).toBe(`approval ${w.approvalId} (plan) rejected by octocat: not this way`);
    const [idea] = await sys.db.sql`select resume_status from codex_kb.ideas where id = ${w.ideaId}`;
    expect(idea!.resume_status).toBe('registered'); // a retry resumes where it waited, not in awaiting_approval
  });

  it('roles: the status token holder has every role until the roles helper names people; an empty list is anyone', async () => {
    const w = await waitingIdea(sys, { eligible: { roles: ['approver'] } });
    expect((await vote(sys, w.approvalId, 'lead', 'approve')).body).toMatchObject({ counted: true, status: 'approved' });
  });

  it('the old routes are votes by the caller', async () => {
    const w = await waitingIdea(sys, { required: 2 });
    const res = await fetch(`${sys.urls.status}/v1/approvals/${w.approvalId}/approve`, { method: 'POST', headers: { 'x-facteur-actor': 'lead' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ counted: true, status: 'pending', voter: 'lead', tally: { approve: 1, required: 2 } });
  });

  it('a vote on an approval past its expiry is a 409, even before the tick expired it', async () => {
    const w = await waitingIdea(sys, { expiresAfterH: 1 });
    await sys.db.sql`update codex_kb.approvals set expires_at = now() - interval '1 second' where id = ${w.approvalId}`;
    const r = await vote(sys, w.approvalId, 'lead', 'approve');
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('expired');
    expect(await sys.db.sql`select 1 from codex_kb.approval_votes where approval_id = ${w.approvalId}`).toHaveLength(0);
  });

  it('bad votes: every problem listed, 4xx, nothing recorded', async () => {
    const w = await waitingIdea(sys, {});
    const post = (body: string) => fetch(`${sys.urls.status}/v1/approvals/${w.approvalId}/votes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    const wrong = await post(JSON.stringify({ decision: 'maybe', reason: 7, extra: true }));
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.issues.map((i: any) => i.path).sort()).toEqual(['(root)', 'decision', 'reason'].sort());
    expect((await post('{"decision":"approve","reason":"a\\u0000b"}')).status).toBe(400);
    expect((await post('{"decision":"approve","reason":"\\ud800"}')).status).toBe(400);
    expect((await post('')).status).toBe(400);
    expect((await post('[' .repeat(5000))).status).toBe(400);
    const missing = await fetch(`${sys.urls.status}/v1/approvals/00000000-0000-4000-8000-000000000000/votes`, { method: 'POST', body: '{"decision":"approve"}' });
    expect(missing.status).toBe(404);
    expect((await fetch(`${sys.urls.status}/v1/approvals/not-a-uuid/votes`, { method: 'POST', body: '{"decision":"approve"}' })).status).toBe(404);
    const q = await fetch(`${sys.urls.status}/v1/approvals?state=open&limit=0&x=1`);
    expect(q.status).toBe(400);
    expect(((await q.json()) as any).error.issues.map((i: any) => i.path).sort()).toEqual(['limit', 'state', 'x']);
    expect(await sys.db.sql`select 1 from codex_kb.approval_votes where approval_id = ${w.approvalId}`).toHaveLength(0);
  });
});
