// Ideas from GitHub issues through intake over real HTTP (topic github.webhook.events): an
// issue on the template becomes an idea registered like a codex.intent Idea Spec, once per
// issue (redelivery, a second `labeled`); an incomplete one registers nothing and is answered
// by one facteur.intake.issue_incomplete event per delivery; the signature is verified.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type System } from '../helpers/system.js';
import { postEvent } from '../helpers/http.js';
import { webhookRecord } from '../approvals/github-payloads.js';

const SECRET = 'issue-webhook-secret';
let sys: System;
const send = (r: ReturnType<typeof webhookRecord>) => postEvent(sys.urls.intake, r);

const BODY = [
  '<!-- filled from the template -->', '### 🎯 Goal', 'Checkout answers in under 200 ms.', '', '### Constraints', '- [x] keep the public API', '- no new service', '',
  '### Success metrics', '1. p95 latency < 200 ms', '2. no error-rate increase', '', '### Non-goals', '_No response_', '', '### Anything else', 'thanks!',
].join('\r\n');

function issuesPayload(o: { number: number; body: string | null; action?: string; label?: string; labels?: string[]; repository?: string; title?: string }) {
  const repository = o.repository ?? 'Acme/Shop';
  return {
    action: o.action ?? 'opened',
    issue: {
      url: `https://api.github.com/repos/${repository}/issues/${o.number}`, number: o.number, title: o.title ?? 'Faster checkout',
      user: { login: 'octocat', id: 1 }, labels: (o.labels ?? ['facteur', 'performance']).map((name, i) => ({ id: i, name, color: 'f29513' })),
      state: 'open', body: o.body, author_association: 'MEMBER',
    },
    ...(o.label ? { label: { id: 9, name: o.label, color: 'ededed' } } : {}),
    repository: { id: 1296269, name: repository.split('/')[1], full_name: repository, private: false },
    sender: { login: 'octocat', id: 1 },
  };
}

beforeAll(async () => {
  sys = await startSystem({ FACTEUR_GITHUB_WEBHOOK_SECRET: SECRET, FACTEUR_GITHUB_IDEA_LABEL: 'facteur' });
}, 60_000);
afterAll(() => sys?.close());

describe('an issue on the idea template', () => {
  it('registers an idea like a codex.intent Idea Spec: repository, issue number, title, labels, intent; a planning task', async () => {
    const r = await send(webhookRecord('issues', issuesPayload({ number: 41, body: BODY }), { secret: SECRET }));
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body).toMatchObject({ event: 'issues', registered: true, repository: 'acme/shop', issueNumber: 41, duplicate: false });
    const [idea] = await sys.db.sql`select * from codex_kb.ideas where id = ${r.body.ideaId}`;
    expect(idea).toMatchObject({ source_type: 'github_issue', source_ref: 'acme/shop#41', title: 'Faster checkout', repository: 'acme/shop', issue_number: '41', status: 'registered' });
    expect(idea!.labels).toEqual(['facteur', 'performance']);
    expect(idea!.intent).toMatchObject({
      version: 'intent_v1', goal: 'Checkout answers in under 200 ms.', constraints: ['keep the public API', 'no new service'],
      successMetrics: ['p95 latency < 200 ms', 'no error-rate increase'], nonGoals: [],
    });
    expect(idea!.intent_anchor).toContain('Checkout answers in under 200 ms.');
    const tasks = await sys.db.sql`select key, stage, state from codex_kb.tasks where idea_id = ${r.body.ideaId}`;
    expect(tasks).toEqual([{ key: 'planning', stage: 'planning', state: 'ready' }].map((t) => expect.objectContaining({ key: t.key, stage: t.stage })));
    const [registered] = await sys.db.sql`select data from codex_kb.outbox where type = 'facteur.idea.registered' and subject = ${r.body.ideaId}`;
    expect(registered!.data).toMatchObject({ sourceType: 'github_issue', sourceRef: 'acme/shop#41', deliveryKey: 'github-issue:acme/shop#41' });
    const [audit] = await sys.db.sql`select actor, action from codex_kb.audit_log where idea_id = ${r.body.ideaId}`;
    expect(audit).toEqual({ actor: 'github:octocat', action: 'idea.registered' });
  });

  it('a redelivery, and a later `labeled` with the label, find the same idea: one idea per issue', async () => {
    const record = webhookRecord('issues', issuesPayload({ number: 42, body: BODY }), { secret: SECRET });
    const first = await send(record);
    expect(first.status).toBe(202);
    const again = await send(record);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ ideaId: first.body.ideaId, duplicate: true });
    const labeled = await send(webhookRecord('issues', issuesPayload({ number: 42, body: BODY, action: 'labeled', label: 'facteur' }), { secret: SECRET }));
    expect(labeled.status).toBe(200);
    expect(labeled.body).toMatchObject({ ideaId: first.body.ideaId, duplicate: true });
    expect(await sys.db.sql`select 1 from codex_kb.ideas where source_ref = 'acme/shop#42'`).toHaveLength(1);
  });

  it('an issue labelled later: `labeled` with the configured label registers it; another label is ignored', async () => {
    const other = await send(webhookRecord('issues', issuesPayload({ number: 43, body: BODY, action: 'labeled', label: 'bug', labels: ['bug'] }), { secret: SECRET }));
    expect(other.status).toBe(202);
    expect(other.body.ignored).toMatch(/another label/);
    const ours = await send(webhookRecord('issues', issuesPayload({ number: 43, body: BODY, action: 'labeled', label: 'facteur', labels: ['bug', 'facteur'] }), { secret: SECRET }));
    expect(ours.status).toBe(202);
    expect(ours.body.registered).toBe(true);
  });
});

describe('an incomplete issue', () => {
  it('registers nothing and emits one facteur.intake.issue_incomplete listing every problem, once per delivery', async () => {
    const record = webhookRecord('issues', issuesPayload({ number: 50, body: '## Goal\n\n## Success metrics\n- \n', title: 'x'.repeat(250) }), { secret: SECRET });
    const r = await send(record);
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ registered: false, repository: 'acme/shop', issueNumber: 50 });
    expect(await sys.db.sql`select 1 from codex_kb.ideas where source_ref = 'acme/shop#50'`).toHaveLength(0);
    expect((await send(record)).status).toBe(200);
    const events = await sys.db.sql`select subject, key, topic, data from codex_kb.outbox where type = 'facteur.intake.issue_incomplete'`;
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toEqual({
      repository: 'acme/shop', issueNumber: 50, deliveryId: record.delivery,
      problems: [
        { field: 'Goal', message: 'the "## Goal" section is empty' },
        { field: 'Constraints', message: 'the "## Constraints" section is missing' },
        { field: 'Success metrics', message: 'the "## Success metrics" section is empty' },
        { field: 'title', message: 'must be at most 200 characters' },
      ],
    });
    expect(events[0]).toMatchObject({ subject: 'acme/shop#50', key: 'acme/shop', topic: sys.config.topics.events });
    // fixed, and labelled again (a new delivery): registered
    const fixed = await send(webhookRecord('issues', issuesPayload({ number: 50, body: BODY, action: 'labeled', label: 'facteur' }), { secret: SECRET }));
    expect(fixed.body.registered).toBe(true);
  });

  it('a null body is an empty template', async () => {
    const r = await send(webhookRecord('issues', issuesPayload({ number: 51, body: null }), { secret: SECRET }));
    expect(r.body.problems.map((p: { field: string }) => p.field)).toEqual(['Goal', 'Constraints', 'Success metrics']);
  });
});

describe('what is not an idea', () => {
  it('an issue without the label or the template, or an edit, is acknowledged and ignored', async () => {
    const plain = await send(webhookRecord('issues', issuesPayload({ number: 60, body: 'It crashes when I click Pay.', labels: ['bug'] }), { secret: SECRET }));
    expect(plain.status).toBe(202);
    expect(plain.body.ignored).toMatch(/without the facteur label/);
    const edited = await send(webhookRecord('issues', issuesPayload({ number: 60, body: BODY, action: 'edited' }), { secret: SECRET }));
    expect(edited.body.ignored).toMatch(/not an idea/);
    expect(await sys.db.sql`select 1 from codex_kb.ideas where source_ref = 'acme/shop#60'`).toHaveLength(0);
  });

  it('a bad signature is a 401 kept as a dead letter; a malformed issues payload a 400 listing its problems', async () => {
    const forged = await send(webhookRecord('issues', issuesPayload({ number: 70, body: BODY }), { signature: 'sha256=' + '0'.repeat(64) }));
    expect(forged.status).toBe(401);
    expect(await sys.db.sql`select 1 from codex_kb.ideas where source_ref = 'acme/shop#70'`).toHaveLength(0);
    const letters = await sys.db.sql`select 1 from codex_kb.dead_letters where reason_code = 'bad_signature'`;
    expect(letters.length).toBeGreaterThanOrEqual(1);
    const bad = await send(webhookRecord('issues', { action: 'opened', issue: { number: 'x', title: 5 }, repository: { full_name: 'no' } }, { secret: SECRET }));
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['issue.number', 'issue.title', 'repository.full_name']);
  });

  it('an issue without its delivery id is refused (it could not be answered once)', async () => {
    const record = webhookRecord('issues', issuesPayload({ number: 71, body: '## Goal' }), { secret: SECRET });
    const r = await postEvent(sys.urls.intake, { ...record, key: undefined, kafkaHeaders: { 'X-GitHub-Event': 'issues', 'X-Hub-Signature-256': record.kafkaHeaders['X-Hub-Signature-256']! } } as never);
    expect(r.status).toBe(400);
  });
});
