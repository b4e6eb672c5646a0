// Hostile GitHub votes on a live pending approval (real HTTP, real PostgreSQL): whatever the
// comment, login, association or delivery id, intake answers 2xx/4xx, never counts a person
// twice and never counts the initiator's approval.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTILE_STRINGS, RUNS, SEED } from '../fuzz/arbitraries.js';
import { postEvent } from '../helpers/http.js';
import { startSystem, type System } from '../helpers/system.js';
import { waitingIdea } from './fixture.js';
import { issueComment, webhookRecord } from './github-payloads.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys.close();
});

const hostile = fc.oneof(fc.constantFrom(...HOSTILE_STRINGS), fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }));

describe('GitHub votes under fuzzing', () => {
  it('never a 5xx, never a person counted twice, never the initiator', async () => {
    // a quorum nobody reaches (hostile logins are distinct voters), so every vote meets a pending approval
    const w = await waitingIdea(sys, { required: 1000 }, { initiator: 'octocat' });
    const voter = fc.oneof(fc.constantFrom('octocat', 'OctoCat', 'hubber', 'hubber', 'alice'), hostile);
    const body = fc.oneof(fc.constant('/approve'), hostile.map((s) => `/approve ${s}`), hostile.map((s) => `/reject${s}`.replace(/^\/reject\s*$/, '/approve')), hostile);
    const association = fc.oneof(fc.constantFrom('MEMBER', 'OWNER', 'COLLABORATOR', 'NONE'), hostile);
    // binary-mode attributes travel percent-encoded (as KafkaSource sends them); intake decodes them
    const delivery = fc.oneof(fc.uuid(), fc.constantFrom('same-delivery', 'd-1'), hostile.map((s) => { try { return encodeURIComponent(s); } catch { return '%ZZ'; } }));
    await fc.assert(
      fc.asyncProperty(voter, body, association, delivery, async (login, text, assoc, id) => {
        // a reject would decide it; keep the approval pending: only approvals and noise
        const safe = text.startsWith('/reject') ? '/approve' : text;
        const record = webhookRecord('issue_comment', issueComment({ repository: 'acme/web', number: w.issue, login, body: safe, association: assoc }), { delivery: id });
        const answer = await postEvent(sys.urls.intake, record);
        expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500);
      }),
      { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
    // and a well-formed vote still counts — once, whether or not the fuzz already counted hubber
    const last = await postEvent(sys.urls.intake, webhookRecord('issue_comment', issueComment({ repository: 'acme/web', number: w.issue, login: 'hubber', body: '/approve' })));
    expect(last.status).toBe(202);
    expect(last.body.vote.counted || last.body.vote.refusedReason === 'already voted').toBe(true);
    const counted = await sys.db.sql<{ voter: string; n: number }[]>`
      select voter, count(*)::int as n from codex_kb.approval_votes where approval_id = ${w.approvalId} and counted group by voter`;
    for (const c of counted) expect(c.n, c.voter).toBe(1);
    expect(counted.map((c) => c.voter)).toContain('hubber');
    expect(counted.map((c) => c.voter)).not.toContain('octocat');
  }, 300_000);
});
