// Every intake path over real HTTP against a real PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { loadConfig, Secret } from '../../shared/config/index.js';
import { connect } from '../../shared/db/index.js';
import { encodeCodexTask } from '../../shared/intake/codex-task.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { ideaSpec, postEvent, serve, type Served } from '../helpers/http.js';

let db: TestDb;
let srv: Served;
const config = loadConfig({});

beforeAll(async () => {
  db = await createTestDb();
  srv = await serve(createIntakeHandler({ sql: db.sql, config, log: silentLogger }));
});
afterAll(() => srv.close());

const count = async (table: string, where = 'true') =>
  Number((await db.sql.unsafe(`select count(*)::int as n from codex_kb.${table} where ${where}`))[0]!.n);

const task = (o: Record<string, unknown> = {}) => ({
  stage: 'planning' as const,
  prompt: 'Plan it',
  repository: 'Acme/Api',
  base: 'main',
  head: 'codex/issue-7',
  issueNumber: '7',
  issueTitle: 'Rate limiting',
  issueBody: 'We need it',
  sender: 'octocat',
  deliveryId: `gh-${Math.random().toString(36).slice(2)}`,
  ...o,
});

describe('Idea Spec (codex.intent)', () => {
  it('registers an idea with its planning task, audit entry and outbox event; redelivery answers 200 with the same ids', async () => {
    const body = JSON.stringify(ideaSpec({ id: 'spec-1', priority: 'high', initiator: { kind: 'discord', login: 'ana' } }));
    const first = await postEvent(srv.url, { topic: 'codex.intent', body });
    expect(first.status).toBe(202);
    expect(first.body).toEqual({ ideaId: expect.any(String), taskId: expect.any(String), duplicate: false });
    // a redelivery from another partition/offset
    const again = await postEvent(srv.url, { topic: 'codex.intent', body, id: 'partition:3/offset:99' });
    expect(again).toEqual({ status: 200, body: { ...first.body, duplicate: true } });

    const [idea] = await db.sql`select * from codex_kb.ideas where id = ${first.body.ideaId}`;
    expect(idea).toMatchObject({ status: 'registered', source_type: 'api', source_ref: 'idea-spec:spec-1', priority: 'high', repository: 'acme/web' });
    expect(idea!.intent.version).toBe('intent_v1');
    expect(idea!.intent_anchor).toContain('Add dark mode');
    const [t] = await db.sql`select * from codex_kb.tasks where id = ${first.body.taskId}`;
    expect(t).toMatchObject({ stage: 'planning', state: 'pending', key: 'planning', idea_id: first.body.ideaId });
    expect(await count('deliveries', `delivery_key = 'idea-spec:spec-1'`)).toBe(1);
    expect(await count('audit_log', `idea_id = '${first.body.ideaId}' and action = 'idea.registered' and actor = 'discord:ana'`)).toBe(1);
    expect(await count('outbox', `subject = '${first.body.ideaId}' and type = 'facteur.idea.registered'`)).toBe(1);
  });

  it('keys a spec without id on the CloudEvent source and id', async () => {
    const r = await postEvent(srv.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec()), id: 'partition:1/offset:5' });
    expect(r.status).toBe(202);
    const [d] = await db.sql`select delivery_key from codex_kb.deliveries where idea_id = ${r.body.ideaId}`;
    expect(d!.delivery_key).toMatch(/^ce:\/apis\/v1\/namespaces\/facteur\/kafkasources\/facteur-intake#codex\.intent#partition:1\/offset:5$/);
  });

  it('accepts structured mode (application/cloudevents+json)', async () => {
    const event = {
      specversion: '1.0', id: 'structured-1', type: 'dev.knative.kafka.event',
      source: '/apis/v1/namespaces/facteur/kafkasources/facteur-intake#codex.intent',
      datacontenttype: 'application/json', data: ideaSpec({ id: 'structured-spec' }),
    };
    const res = await fetch(srv.url, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(event) });
    expect(res.status).toBe(202);
    expect(await count('deliveries', `delivery_key = 'idea-spec:structured-spec'`)).toBe(1);
  });

  it('flags a redelivery whose bytes differ from the first delivery', async () => {
    await postEvent(srv.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'spec-diff' })) });
    const r = await postEvent(srv.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'spec-diff', title: 'Other' })) });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ duplicate: true, sameContent: false });
  });
});

describe('CodexTask protobuf (github.issues.codex.tasks) and JSON (github.codex.tasks)', () => {
  it('registers a planning task from protobuf, and implementation/review tasks attach to the same idea', async () => {
    const plan = task();
    const r1 = await postEvent(srv.url, {
      topic: 'github.issues.codex.tasks', contentType: 'application/x-protobuf', body: encodeCodexTask(plan), key: 'issue-7-planning',
      kafkaHeaders: { 'x-protobuf-message': 'proompteng.froussard.v1.CodexTask', 'x-github-delivery': plan.deliveryId, 'x-codex-task-stage': 'planning' },
    });
    expect(r1.status).toBe(202);
    const impl = task({ stage: 'implementation' });
    const r2 = await postEvent(srv.url, { topic: 'github.issues.codex.tasks', contentType: 'application/x-protobuf', body: encodeCodexTask(impl) });
    expect(r2.status).toBe(202);
    expect(r2.body.ideaId).toBe(r1.body.ideaId);
    expect(r2.body.taskId).not.toBe(r1.body.taskId);
    const review = task({ stage: 'review' });
    const r3 = await postEvent(srv.url, {
      topic: 'github.issues.codex.tasks', contentType: 'application/x-protobuf', body: encodeCodexTask(review),
      kafkaHeaders: { 'x-codex-review-fingerprint': 'abc123' },
    });
    expect(r3.body.ideaId).toBe(r1.body.ideaId);
    const tasks = await db.sql`select key, stage from codex_kb.tasks where idea_id = ${r1.body.ideaId} order by key`;
    expect(tasks.map((t) => `${t.stage}:${t.key}`)).toEqual(['implementation:gh-implementation', 'review:gh-review-abc123', 'planning:planning']);
    const [idea] = await db.sql`select source_type, source_ref, issue_number from codex_kb.ideas where id = ${r1.body.ideaId}`;
    expect(idea).toEqual({ source_type: 'github_issue', source_ref: 'acme/api#7', issue_number: '7' });
    expect(await count('audit_log', `idea_id = '${r1.body.ideaId}' and action = 'task.attached'`)).toBe(2);
  });

  it('treats the JSON twin of a protobuf task (same X-GitHub-Delivery) as the same delivery', async () => {
    const t = task({ issueNumber: '8' });
    const proto = await postEvent(srv.url, { topic: 'github.issues.codex.tasks', contentType: 'application/x-protobuf', body: encodeCodexTask(t) });
    const { deliveryId, ...json } = t;
    const twin = await postEvent(srv.url, {
      topic: 'github.codex.tasks', body: JSON.stringify({ ...json, stage: 'CODEX_TASK_STAGE_PLANNING' }),
      kafkaHeaders: { 'x-github-delivery': deliveryId },
    });
    expect(proto.status).toBe(202);
    expect(twin).toEqual({ status: 200, body: { ...proto.body, duplicate: true } });
  });

  it('keys a JSON task without the delivery header on the CloudEvent id', async () => {
    const { deliveryId: _unused, ...json } = task({ issueNumber: '9', stage: 'implementation' });
    const r = await postEvent(srv.url, { topic: 'github.codex.tasks', body: JSON.stringify(json), id: 'partition:0/offset:424242' });
    expect(r.status).toBe(202);
    expect(await count('deliveries', `delivery_key = 'github-delivery:partition:0/offset:424242'`)).toBe(1);
  });

  it('keeps an int64 issue number exact end to end', async () => {
    const r = await postEvent(srv.url, { topic: 'github.issues.codex.tasks', contentType: 'application/x-protobuf', body: encodeCodexTask(task({ issueNumber: '9223372036854775807' })) });
    expect(r.status).toBe(202);
    const [idea] = await db.sql`select issue_number, source_ref from codex_kb.ideas where id = ${r.body.ideaId}`;
    expect(idea).toEqual({ issue_number: '9223372036854775807', source_ref: 'acme/api#9223372036854775807' });
  });
});

describe('bad input: a precise 4xx, the raw input kept, never a 5xx', () => {
  const deadLetter = async () => (await db.sql`select * from codex_kb.dead_letters order by id desc limit 1`)[0]!;

  it('400 listing every problem of an invalid Idea Spec, with the raw payload and headers kept', async () => {
    const body = JSON.stringify({ title: '', goal: 1, repository: 'x' });
    const r = await postEvent(srv.url, { topic: 'codex.intent', body, headers: { authorization: 'Bearer should-not-be-stored' } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_input');
    expect(r.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['goal', 'repository', 'successMetrics', 'title']);
    const dl = await deadLetter();
    expect(dl).toMatchObject({ function_name: 'intake', topic: 'codex.intent', status_code: 400, reason_code: 'invalid_input' });
    expect(Buffer.from(dl.payload).toString()).toBe(body);
    expect(dl.headers['ce-type']).toBe('dev.knative.kafka.event');
    expect(dl.headers['authorization']).toBe('[redacted]');
    expect(dl.problems).toHaveLength(4);
  });

  it('400 for malformed JSON', async () => {
    const r = await postEvent(srv.url, { topic: 'codex.intent', body: '{"title": ' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('malformed_json');
    expect((await deadLetter()).reason_code).toBe('malformed_json');
  });

  it('400 for a request that is not a CloudEvent', async () => {
    const res = await fetch(srv.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe('not_a_cloudevent');
  });

  it('400 listing every missing CloudEvent attribute', async () => {
    const res = await fetch(srv.url, { method: 'POST', headers: { 'content-type': 'application/json', 'ce-specversion': '0.3' }, body: '{}' });
    const body = (await res.json()) as any;
    expect(res.status).toBe(400);
    expect(body.error.issues.map((i: { path: string }) => i.path)).toEqual(['headers.ce-specversion', 'headers.ce-id', 'headers.ce-source', 'headers.ce-type']);
  });

  it('400 for a topic intake does not route', async () => {
    const r = await postEvent(srv.url, { topic: 'some.other.topic', body: '{}' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('unroutable');
  });

  it('400 for bytes that are not a CodexTask', async () => {
    const r = await postEvent(srv.url, { topic: 'github.issues.codex.tasks', contentType: 'application/x-protobuf', body: Buffer.from([0x0a, 0xff, 0xff]) });
    expect(r.status).toBe(400);
    expect(Buffer.from((await deadLetter()).payload)).toEqual(Buffer.from([0x0a, 0xff, 0xff]));
  });

  it('415 for the wrong content type', async () => {
    const r = await postEvent(srv.url, { topic: 'codex.intent', body: 'title=x', contentType: 'application/x-www-form-urlencoded' });
    expect(r.status).toBe(415);
    expect(r.body.error.code).toBe('unsupported_media_type');
    const r2 = await postEvent(srv.url, { topic: 'github.issues.codex.tasks', body: '{}', contentType: 'application/json' });
    expect(r2.status).toBe(415);
    expect((await deadLetter()).status_code).toBe(415);
  });

  it('413 over 1 MiB, keeping a prefix and the size', async () => {
    const body = JSON.stringify(ideaSpec({ goal: 'x'.repeat(1024 * 1024 + 10) }));
    const r = await postEvent(srv.url, { topic: 'codex.intent', body });
    expect(r.status).toBe(413);
    const dl = await deadLetter();
    expect(dl).toMatchObject({ status_code: 413, payload_truncated: true, payload_size: Buffer.byteLength(body) });
    expect(dl.payload.length).toBeLessThan(body.length);
  });

  it('405 for a GET on the event endpoint', async () => {
    expect((await fetch(srv.url)).status).toBe(405);
  });

  it('503 (retry) only when the database is unreachable, and nothing is lost', async () => {
    const down = connect('postgres://postgres@127.0.0.1:1/none', { max: 1, connectTimeoutS: 1 });
    const s = await serve(createIntakeHandler({ sql: down, config, log: silentLogger }));
    try {
      const r = await postEvent(s.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'while-down' })) });
      expect(r.status).toBe(503);
      // bad input while the database is down cannot be kept: retriable too
      const bad = await postEvent(s.url, { topic: 'codex.intent', body: '{' });
      expect(bad.status).toBe(503);
    } finally {
      await s.close();
      await down.end();
    }
    // the redelivery once it is back is accepted
    const again = await postEvent(srv.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'while-down' })) });
    expect(again.status).toBe(202);
  });

  it('401 without the intake token when one is configured, and nothing is stored', async () => {
    const locked = await serve(createIntakeHandler({ sql: db.sql, config: { ...config, intakeToken: new Secret('intake-secret') }, log: silentLogger }));
    try {
      const before = await count('dead_letters');
      const r = await postEvent(locked.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'locked' })) });
      expect(r.status).toBe(401);
      expect(await count('dead_letters')).toBe(before);
      const ok = await postEvent(locked.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'locked' })), headers: { authorization: 'Bearer intake-secret' } });
      expect(ok.status).toBe(202);
    } finally {
      await locked.close();
    }
  });
});
