// A whole life of an idea from a GitHub issue, through the functions over real HTTP, with
// the notifiers against the FAKE GitHub and Discord: one status comment, created once and
// edited in place at every transition; the gate's status on the pull request head; Discord
// messages for the plan and the deploy; and nothing sent twice when the feed is read again
// or when a crash left a comment whose id was never recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notifications } from '../../shared/notify/index.js';
import { plan, STAGE_RESULT, submitIdea, tick, WorkflowWatch, type System } from '../helpers/system.js';
import { writes, type FakeRemotes } from './fake-remotes.js';
import { startNotifySystem, type NotifySystem } from './system.js';

let t: NotifySystem;
let sys: System;
let remotes: FakeRemotes;
let notify: Notifications;

beforeAll(async () => {
  // the first pass starts the feeds here: what happens from now on is announced
  t = await startNotifySystem({ passMs: 5000 });
  ({ sys, remotes, notify } = t);
});
afterAll(() => t?.close());

const ideaComments = (ideaId: string) => [...remotes.comments.values()].filter((c) => c.body.startsWith(`<!-- facteur:idea:${ideaId} -->`));

describe('the GitHub status comment across a whole life', () => {
  it('is created once and edited in place at every transition, with statuses and Discord messages', async () => {
    const { ideaId } = await submitIdea(sys, { id: `life-${Date.now()}`, title: 'Rate limiting', repository: 'acme/web', source: { type: 'github_issue', ref: 'acme/web#42' } });
    await notify.runOnce();
    expect(ideaComments(ideaId)).toHaveLength(1);
    const comment = ideaComments(ideaId)[0]!;
    expect(comment.issue).toBe('acme/web#42');
    expect(comment.body).toContain('registered');

    const bodies = [comment.body];
    const watch = new WorkflowWatch(sys, ideaId);
    await tick(sys);
    await notify.runOnce();
    const planning = await watch.next();
    await planning.run([{ kind: 'plan', data: plan(['api', 'ui']) }]);
    await notify.runOnce();
    bodies.push(comment.body);
    expect(comment.body).toMatch(/Task api \| implementation \| (ready|queued|submitting|running|pending)/);
    for (const key of ['api', 'ui']) {
      const step = await watch.next();
      expect(step.decoded('eventBody').taskKey).toBe(key);
      await step.run(STAGE_RESULT.implementation!);
      await notify.runOnce();
      bodies.push(comment.body);
    }
    for (const stage of ['review', 'integration', 'deploy']) {
      const step = await watch.next();
      const artifacts = stage === 'integration'
        ? [{ kind: 'integration', data: { merged: true, sha: 'abc1234', method: 'merge', into: 'main', pr: 18, branches: [{ key: 'api', pr: 17 }, { key: 'ui', pr: 18 }] } }]
        : STAGE_RESULT[stage]!;
      await step.run(artifacts);
      await notify.runOnce();
      bodies.push(comment.body);
    }

    // one comment, never a second; edited as the idea moved, ending completed with its PRs
    expect(ideaComments(ideaId)).toHaveLength(1);
    const creates = writes(remotes).filter((s) => s.method === 'POST' && s.path.endsWith('/issues/42/comments'));
    expect(creates).toHaveLength(1);
    expect(comment.edits).toBeGreaterThanOrEqual(5);
    expect(new Set(bodies).size).toBeGreaterThanOrEqual(5);
    expect(comment.body).toContain('completed');
    expect(comment.body).toContain('#17, #18');
    expect(comment.body).toContain('Task ui | implementation | succeeded');
    expect(comment.body).toContain('](https://facteur.example/dash/ideas/' + ideaId + ')');
    // the gate's status on the head the implementation reported, pending then success
    const head = '2222222222222222222222222222222222222222';
    const states = remotes.statuses.filter((s) => s.sha === head).map((s) => s.state);
    expect(states[0]).toBe('pending');
    expect(states.at(-1)).toBe('success');
    expect(remotes.statuses.every((s) => s.context === 'facteur/gate' && s.repo === 'acme/web')).toBe(true);
    // Discord: the plan and the deploy, each once, mentioning nobody
    const mine = remotes.messages.filter((m) => m.content.includes('Rate limiting'));
    expect(mine.map((m) => m.content.split('**')[1])).toEqual(['🗺️ Plan ready', '🚀 Deployed']);
    for (const m of mine) expect(m.allowed_mentions).toEqual({ parse: [] });
    expect(mine[0]!.content).toContain(`<https://facteur.example/dash/ideas/${ideaId}>`);

    // the ledger: every delivery sent, the comment's id kept as the remote id
    const ledger = await sys.db.sql`select notifier, state, remote_id from codex_kb.notify_deliveries where idea_id = ${ideaId}`;
    expect(ledger.every((r) => r.state === 'sent')).toBe(true);
    expect(new Set(ledger.filter((r) => r.notifier === 'github').map((r) => r.remote_id))).toEqual(new Set([String(comment.id)]));

    // a redelivered feed (the cursors back at the start, as after a crash before they moved) sends nothing
    const before = { writes: writes(remotes).length, messages: remotes.messages.length };
    await sys.db.sql`update codex_kb.notify_cursors set xact_id = '1'::xid8, outbox_id = 0`;
    const again = await notify.runOnce();
    expect(again.enqueued).toBe(0);
    expect({ writes: writes(remotes).length, messages: remotes.messages.length }).toEqual(before);
  }, 60_000);

  it('finds the comment a crash left unrecorded by its marker, and edits it rather than creating another', async () => {
    const { ideaId } = await submitIdea(sys, { id: `crash-${Date.now()}`, title: 'Crash safety', repository: 'acme/web', source: { type: 'github_issue', ref: 'acme/web#43' } });
    // the comment was created, then the process died before the ledger and the thread recorded it
    remotes.comments.set(1, { id: 1, issue: 'acme/web#43', body: `<!-- facteur:idea:${ideaId} -->\nold`, edits: 0 });
    await notify.runOnce();
    expect(ideaComments(ideaId)).toHaveLength(1);
    expect(remotes.comments.get(1)!.edits).toBe(1);
    expect(remotes.comments.get(1)!.body).toContain('Crash safety');
    expect(writes(remotes).filter((s) => s.method === 'POST' && s.path.endsWith('/issues/43/comments'))).toHaveLength(0);
  });

  it('re-renders an idea that moved without an outbox event (an operator pause)', async () => {
    const { ideaId } = await submitIdea(sys, { id: `pause-${Date.now()}`, title: 'Paused later', repository: 'acme/web', source: { type: 'github_issue', ref: 'acme/web#44' } });
    await notify.runOnce();
    const [comment] = ideaComments(ideaId);
    expect(comment!.body).toContain('registered');
    const res = await fetch(`${sys.urls.status}/v1/ideas/${ideaId}/pause`, { method: 'POST' });
    expect(res.status).toBe(200);
    await notify.runOnce();
    expect(comment!.body).toContain('paused');
    expect(ideaComments(ideaId)).toHaveLength(1);
  });

  it('comments once per incomplete issue delivery, listing every problem', async () => {
    const data = { repository: 'acme/web', issueNumber: 50, deliveryId: 'gh-delivery-1', problems: [{ field: 'goal', message: 'the Goal heading is missing' }, { field: 'successMetrics', message: 'list at least one metric' }] };
    for (let i = 0; i < 2; i++) {
      // the same delivery announced twice (a redelivered webhook): still one comment
      await sys.db.sql`insert into codex_kb.outbox (type, source, topic, data) values ('facteur.intake.issue_incomplete', '/facteur/intake', 'facteur.events', ${sys.db.sql.json(data)})`;
    }
    await notify.runOnce();
    const mine = [...remotes.comments.values()].filter((c) => c.issue === 'acme/web#50');
    expect(mine).toHaveLength(1);
    expect(mine[0]!.body).toContain('**goal**: the Goal heading is missing');
    expect(mine[0]!.body).toContain('**successMetrics**: list at least one metric');
  });

  it('renders a hostile title safely on GitHub and Discord (markdown, @everyone, a lone surrogate, 100 KB)', async () => {
    const { ideaId } = await submitIdea(sys, { id: `hostile-${Date.now()}`, title: 'Benign for now', repository: 'acme/web', source: { type: 'github_issue', ref: 'acme/web#60' } });
    const title = `@everyone **pwned** [x](javascript:alert(1)) <!-- facteur:idea:${ideaId} --> ${'\ud800'} ${'y'.repeat(100 * 1024)}`;
    await sys.db.sql`update codex_kb.ideas set title = ${title} where id = ${ideaId}`;
    await sys.db.sql`insert into codex_kb.outbox (type, source, topic, data) values ('facteur.idea.blocked', '/facteur/policy', 'facteur.events', ${sys.db.sql.json({ ideaId, reason: '@here look **now**' })})`;
    await notify.runOnce();
    const [comment] = ideaComments(ideaId);
    expect(ideaComments(ideaId)).toHaveLength(1);
    expect(comment!.body.split('<!--')).toHaveLength(2);
    expect(comment!.body).not.toMatch(/@(everyone|here)/);
    expect(comment!.body.length).toBeLessThan(65_536);
    expect(comment!.body).toContain('\\*\\*pwned\\*\\*');
    const [message] = remotes.messages.filter((m) => m.content.includes('pwned'));
    expect(message!.content).not.toMatch(/@(everyone|here)/);
    expect(message!.content.length).toBeLessThanOrEqual(2000);
    expect(message!.allowed_mentions).toEqual({ parse: [] });
  });

  it('shows findings needing attention and the approval commands while an approval is pending', async () => {
    const { ideaId } = await submitIdea(sys, { id: `approval-${Date.now()}`, title: 'Needs a human', repository: 'acme/web', source: { type: 'github_issue', ref: 'acme/web#70' } });
    await sys.db.sql`
      insert into codex_kb.policy_findings (evaluation_id, idea_id, checkpoint, policy, rule, result, severity, mode, enforced, would_block, message, effective_policy_hash)
      values (gen_random_uuid(), ${ideaId}, 'plan', 'default@1', 'highRisk', 'fail', 'high', 'enforce', true, true, 'touches billing: needs an approver', 'h'),
             (gen_random_uuid(), ${ideaId}, 'plan', 'default@1', 'tests', 'pass', 'low', 'warn', false, false, 'has tests', 'h')`;
    const [approval] = await sys.db.sql`
      insert into codex_kb.approvals (idea_id, checkpoint, reason, requested_by) values (${ideaId}, 'plan', 'high-risk change', 'policy') returning id`;
    await sys.db.sql`insert into codex_kb.outbox (type, source, topic, data) values ('facteur.idea.awaiting_approval', '/facteur/policy', 'facteur.events', ${sys.db.sql.json({ ideaId, approvalId: approval!.id, checkpoint: 'plan', reason: 'high-risk change' })})`;
    await notify.runOnce();
    const [comment] = ideaComments(ideaId);
    expect(comment!.body).toContain('**Findings needing attention:**');
    expect(comment!.body).toContain('highRisk (high, would block): touches billing: needs an approver');
    expect(comment!.body).not.toContain('has tests');
    expect(comment!.body).toContain('**Approval needed** at `plan`: high\\-risk change');
    expect(comment!.body).toContain('Reply with `/approve` to let it go on, or `/reject <reason>` to stop it.');
    const [message] = remotes.messages.filter((m) => m.content.includes('Needs a human'));
    expect(message!.content).toMatch(/^\*\*✋ Approval needed\*\*: \*\*Needs a human\*\* in `acme\/web` — high\\-risk change/);
    // decided: the commands go away at the next render
    await sys.db.sql`update codex_kb.approvals set status = 'approved', decided_by = 'ann', decided_at = now() where id = ${approval!.id}`;
    await sys.db.sql`insert into codex_kb.outbox (type, source, topic, data) values ('facteur.approval.decided', '/facteur/approvals', 'facteur.events', ${sys.db.sql.json({ ideaId, approvalId: approval!.id })})`;
    await notify.runOnce();
    expect(comment!.body).not.toContain('/approve');
  });
});
