// GitHub votes through intake, as KafkaSource delivers topic `github.webhook.events`
// (binary-mode CloudEvent, GitHub's headers as Kafka headers), with a webhook secret set:
// an `/approve` comment approves, its redelivery does nothing, a bad signature is a 401 kept
// in dead_letters, untrusted or ineligible logins are refused and recorded, and everything
// that is not a vote is acknowledged and ignored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postEvent } from '../helpers/http.js';
import { startSystem, type System } from '../helpers/system.js';
import { stateOf, waitingIdea } from './fixture.js';
import { issueComment, pullRequestReview, webhookRecord } from './github-payloads.js';

const SECRET = 'whsec-test-5f1c';
let sys: System;
beforeAll(async () => {
  sys = await startSystem({
    FACTEUR_GITHUB_WEBHOOK_SECRET: SECRET,
    // what the configuration says of GitHub logins: a role, a team
    FACTEUR_GITHUB_ROLES: JSON.stringify({ 'Rel-Eng': ['approver'] }),
    FACTEUR_APPROVER_TEAMS: JSON.stringify({ platform: ['hub-two', 'someone-else'] }),
  });
});
afterAll(async () => {
  await sys.close();
});

const send = (r: ReturnType<typeof webhookRecord>) => postEvent(sys.urls.intake, r);
const votesOf = (approvalId: string) =>
  sys.db.sql`select voter, decision, source, counted, refused_reason, delivery_id from codex_kb.approval_votes where approval_id = ${approvalId} order by id`;

describe('GitHub votes through intake', () => {
  it('an /approve issue comment by an eligible member approves; its redelivery does nothing', async () => {
    const w = await waitingIdea(sys, { eligible: { logins: ['hubber'] } });
    const record = webhookRecord('issue_comment', issueComment({ repository: 'Acme/Web', number: w.issue, login: 'hubber', body: '  /approve\r\n\r\nLGTM, the migration is reversible.' }), { secret: SECRET });
    const first = await send(record);
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ duplicate: false, event: 'issue_comment', deliveryId: record.delivery, vote: { counted: true, status: 'approved', voter: 'hubber' } });
    expect(await stateOf(sys, w)).toMatchObject({ approval: 'approved', task: 'pending', idea: 'registered' });
    expect(await votesOf(w.approvalId)).toEqual([{ voter: 'hubber', decision: 'approve', source: 'github', counted: true, refused_reason: null, delivery_id: record.delivery }]);
    const audited = await sys.db.sql`select count(*)::int as n from codex_kb.audit_log where subject_id = ${w.approvalId}`;

    const again = await send(record); // KafkaSource redelivers the same record (a new ce-id, the same delivery)
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ duplicate: true, vote: { counted: true, status: 'approved', duplicate: true } });
    expect(await votesOf(w.approvalId)).toHaveLength(1);
    expect(await sys.db.sql`select count(*)::int as n from codex_kb.audit_log where subject_id = ${w.approvalId}`).toEqual(audited);
    expect(await sys.db.sql`select 1 from codex_kb.outbox where subject = ${w.ideaId} and type = 'facteur.approval.decided'`).toHaveLength(1);
  });

  it('a login is eligible by the role FACTEUR_GITHUB_ROLES gives it or a team FACTEUR_APPROVER_TEAMS puts it in; others are not', async () => {
    const w = await waitingIdea(sys, { required: 2, eligible: { logins: [], teams: ['platform'], roles: ['approver'] } });
    const vote = async (login: string) => (await send(webhookRecord('issue_comment', issueComment({ repository: 'acme/web', number: w.issue, login, body: '/approve' }), { secret: SECRET }))).body.vote;
    expect(await vote('drive-by')).toMatchObject({ counted: false, refusedReason: expect.stringMatching(/^not eligible/) });
    expect(await vote('rel-eng')).toMatchObject({ counted: true, status: 'pending' });
    expect(await vote('HUB-TWO')).toMatchObject({ counted: true, status: 'approved' });
  });

  it('a bad or missing signature is a 401, kept in dead_letters with the reason; nothing is voted', async () => {
    const w = await waitingIdea(sys, { eligible: { logins: ['hubber'] } });
    const payload = issueComment({ repository: 'acme/web', number: w.issue, login: 'hubber', body: '/approve' });
    const forged = webhookRecord('issue_comment', payload, { secret: 'not-the-secret' });
    const r = await send(forged);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('bad_signature');
    const unsigned = await send(webhookRecord('issue_comment', payload));
    expect(unsigned.status).toBe(401);
    const letters = await sys.db.sql`select status_code, reason_code, reason, topic from codex_kb.dead_letters where topic = 'github.webhook.events' and reason_code = 'bad_signature'`;
    expect(letters.length).toBeGreaterThanOrEqual(2);
    expect(letters[0]).toMatchObject({ status_code: 401, topic: 'github.webhook.events' });
    expect(letters.map((l) => l.reason)).toContain('the webhook carries no X-Hub-Signature-256 and a webhook secret is configured');
    expect(await votesOf(w.approvalId)).toHaveLength(0);
    expect((await stateOf(sys, w)).approval).toBe('pending');
  });

  it('an ineligible login, an untrusted author_association and the pull request\'s author are refused, recorded, with no effect', async () => {
    const w = await waitingIdea(sys, { required: 1, eligible: { logins: ['hubber', 'outsider', 'facteur-bot'] } });
    // facteur-agent reported its pull request in the implementation run's completion
    await sys.db.sql`
      insert into codex_kb.run_events (idea_id, task_id, event_type, actor, payload)
      values (${w.ideaId}, ${w.taskId}, 'callback.completed', 'run:x', ${sys.db.sql.json({ outcome: 'succeeded', message: 'committed 1a2b3c4d5e6f, 3 checks passed, pull request #57' })})`;
    const cases = [
      webhookRecord('issue_comment', issueComment({ repository: 'acme/web', number: w.issue, login: 'stranger', body: '/approve', association: 'MEMBER' }), { secret: SECRET }),
      webhookRecord('issue_comment', issueComment({ repository: 'acme/web', number: w.issue, login: 'outsider', body: '/approve', association: 'CONTRIBUTOR' }), { secret: SECRET }),
      webhookRecord('pull_request_review', pullRequestReview({ repository: 'acme/web', number: 57, login: 'facteur-bot', author: 'facteur-bot', body: '/approve' }), { secret: SECRET }),
      webhookRecord('issue_comment', issueComment({ repository: 'acme/web', number: 57, login: 'facteur-bot', body: '/approve', pullRequestAuthor: 'facteur-bot' }), { secret: SECRET }),
    ];
    for (const c of cases) expect((await send(c)).status).toBe(202);
    const votes = await votesOf(w.approvalId);
    expect(votes.map((v) => [v.voter, v.counted, v.refused_reason])).toEqual([
      ['stranger', false, "not eligible: not among the approval's logins, teams or roles"],
      ['outsider', false, 'author_association CONTRIBUTOR is not one of OWNER, MEMBER, COLLABORATOR'],
      ['facteur-bot', false, 'the author of the change cannot approve it'],
      ['facteur-bot', false, 'the author of the change cannot approve it'],
    ]);
    expect(await stateOf(sys, w)).toMatchObject({ approval: 'pending', task: 'awaiting_approval', idea: 'awaiting_approval' });
    // a review on the pull request facteur-agent reported rejects, with its reason
    const reject = await send(webhookRecord('pull_request_review', pullRequestReview({ repository: 'acme/web', number: 57, login: 'hubber', author: 'facteur-bot', body: '/reject the migration drops a column', state: 'changes_requested' }), { secret: SECRET }));
    expect(reject.body.vote).toMatchObject({ counted: true, status: 'rejected' });
    const s = await stateOf(sys, w);
    expect(s).toMatchObject({ approval: 'rejected', idea: 'blocked', task: 'blocked' });
    expect(s.idea_reason).toMatch(/rejected by hubber: the migration drops a column$/);
  });

  it('everything that is not a vote is acknowledged (2xx) and ignored, saying why', async () => {
    const w = await waitingIdea(sys, { eligible: { logins: ['hubber'] } });
    const other = await waitingIdea(sys, {}, { repository: 'acme/other' });
    const answers = await Promise.all([
      send(webhookRecord('push', { ref: 'refs/heads/main', repository: { full_name: 'acme/web' } }, { secret: SECRET })),
      send(webhookRecord('issue_comment', issueComment({ repository: 'acme/web', number: w.issue, login: 'hubber', body: '/approve', action: 'edited' }), { secret: SECRET })),
      send(webhookRecord('issue_comment', issueComment({ repository: 'acme/web', number: w.issue, login: 'hubber', body: 'I would /approve this later' }), { secret: SECRET })),
      send(webhookRecord('issue_comment', issueComment({ repository: 'acme/web', number: 99_999, login: 'hubber', body: '/approve' }), { secret: SECRET })),
      send(webhookRecord('pull_request_review', pullRequestReview({ repository: 'acme/web', number: 58, login: 'hubber', author: 'x', body: null as never, state: 'commented' }), { secret: SECRET })),
    ]);
    for (const a of answers) {
      expect(a.status).toBe(202);
      expect(typeof a.body.ignored).toBe('string');
    }
    expect(answers[3]!.body.ignored).toBe('no pending approval for acme/web#99999');
    expect(await votesOf(w.approvalId)).toHaveLength(0);
    expect(await votesOf(other.approvalId)).toHaveLength(0);
  });

  it('without GitHub\'s headers the type comes from the payload and the delivery id from the record key', async () => {
    const w = await waitingIdea(sys, { eligible: { logins: ['hubber'] } });
    const record = webhookRecord('issue_comment', issueComment({ repository: 'acme/web', number: w.issue, login: 'hubber', body: '/approve' }), { headers: false });
    const r = await postEvent(sys.urls.intake, { ...record, kafkaHeaders: { 'X-Hub-Signature-256': webhookRecord('x', JSON.parse(record.body), { secret: SECRET }).kafkaHeaders['X-Hub-Signature-256']! } });
    expect(r.body).toMatchObject({ event: 'issue_comment', deliveryId: record.delivery, vote: { counted: true, status: 'approved' } });
  });

  it('a vote-shaped event that is malformed is a 400 listing the problems, kept in dead_letters', async () => {
    const bad = await send(webhookRecord('issue_comment', { action: 'created', comment: { body: 7 }, issue: {}, repository: { full_name: 'no slash' } }, { secret: SECRET }));
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i: any) => i.path)).toEqual(expect.arrayContaining(['comment.body', 'comment.user', 'issue.number', 'repository.full_name']));
    const nul = await send(webhookRecord('issue_comment', issueComment({ repository: 'acme/web', number: 1, login: 'hubber', body: '/approve \u0000' }), { secret: SECRET }));
    expect(nul.status).toBe(400);
  });
});
