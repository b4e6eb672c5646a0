// Each hostile input a tester found answering 5xx, or accepted and failing later, with the
// answer it gets now. Served in process over real HTTP (local mode's adapter); the fuzz suites
// beside this file drive the production adapter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCodexTask } from '../../shared/intake/index.js';
import { postEvent } from '../helpers/http.js';
import { startSystem, submitIdea, tick, WorkflowWatch, type StepDouble, type System } from '../helpers/system.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(() => sys?.close());

const lastDeadLetter = async () => (await sys.db.sql`select * from codex_kb.dead_letters order by id desc limit 1`)[0]!;
const intent = (body: string | Uint8Array, contentType = 'application/json') => postEvent(sys.urls.intake, { topic: 'codex.intent', body, contentType });

describe('intake: bad bytes get a 4xx and are kept, never a 503 that KafkaSource retries forever', () => {
  it('a body of one NUL byte → 400 malformed_json, kept byte for byte', async () => {
    const r = await intent(Uint8Array.of(0));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('malformed_json');
    const dl = await lastDeadLetter();
    expect(Buffer.from(dl.payload)).toEqual(Buffer.from([0]));
    expect(dl.reason).not.toContain('\u0000');
  });

  it('random bytes → 400, kept', async () => {
    const junk = Uint8Array.from([0xde, 0xad, 0x00, 0xbe, 0xef, 0xff, 0x7b]);
    const r = await intent(junk);
    expect(r.status).toBe(400);
    expect(Buffer.from((await lastDeadLetter()).payload)).toEqual(Buffer.from(junk));
  });

  it('invalid UTF-8 is refused (400 invalid_utf8), not silently replaced', async () => {
    const bytes = Buffer.concat([Buffer.from('{"title":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('","goal":"g","successMetrics":["m"],"repository":"acme/web"}')]);
    const r = await intent(bytes);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'invalid_utf8', issues: [{ path: 'body', message: 'invalid UTF-8 at byte 13' }] });
  });

  it('a charset other than UTF-8 is refused with 415', async () => {
    const r = await intent(JSON.stringify({ title: 't', goal: 'g', successMetrics: ['m'], repository: 'acme/web' }), 'application/json; charset=utf-16');
    expect(r.status).toBe(415);
    expect(r.body.error.code).toBe('unsupported_media_type');
    expect((await intent('{}', 'application/json; charset="UTF-8"')).status).toBe(400); // UTF-8 spelled any way is fine
  });

  it('\\u0000 and lone surrogates inside JSON strings → 400 naming the field', async () => {
    const r = await intent('{"title":"a\\u0000b","goal":"\\ud800","successMetrics":["m"],"repository":"acme/web"}');
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_text');
    expect(r.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['goal', 'title']);
  });

  it('5 000-deep nesting → 400 too_complex', async () => {
    const r = await intent('['.repeat(5000) + ']'.repeat(5000));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('too_complex');
  });

  it('a NUL in a percent-encoded CloudEvent attribute → 400, kept', async () => {
    const r = await postEvent(sys.urls.intake, { topic: 'codex.intent', body: '{}', id: 'a%00b' });
    expect(r.status).toBe(400);
    expect(r.body.error.issues).toContainEqual({ path: 'headers.ce-id', message: 'NUL characters (\\u0000) are not accepted' });
  });
});

describe('validation at the door: what becomes a branch, a path or a parameter later', () => {
  it.each([
    ['base', '{{workflow.name}}', 'must not contain { or }'],
    ['base', 'a b', 'must not contain spaces'],
    ['base', 'x..y', 'must not contain ".."'],
    ['base', 'feature/', 'must not start or end with "/"'],
    ['base', 'release.lock', 'may end with ".lock"'],
    ['repository', '../x', 'must be owner/name'],
    ['repository', 'acme/..', 'must not name "." or ".."'],
    ['labels', ['{{x}}'], 'must not contain { or }'],
  ])('an Idea Spec with %s %j → 400 naming the field', async (field, value, message) => {
    const spec = { title: 'Refused at the door', goal: 'g', successMetrics: ['m'], repository: 'acme/web', [field]: value };
    const r = await intent(JSON.stringify(spec));
    expect(r.status).toBe(400);
    const issue = r.body.error.issues.find((i: { path: string }) => i.path.startsWith(field));
    expect(issue?.message).toContain(message);
  });

  it('a CodexTask whose head or base Argo would expand → 400 naming both', async () => {
    const bytes = encodeCodexTask({ stage: 'implementation', repository: 'acme/web', issueNumber: '7', deliveryId: 'door-1', head: '{{workflow.name}}', base: 'a b' } as never);
    const r = await postEvent(sys.urls.intake, { topic: 'github.issues.codex.tasks', contentType: 'application/x-protobuf', body: bytes });
    expect(r.status).toBe(400);
    expect(r.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['base', 'head']);
  });

  it('a CodexTask string holding NUL (400) or invalid UTF-8 (400 malformed_protobuf), not a database error or a silent U+FFFD', async () => {
    const valid = encodeCodexTask({ stage: 'planning', repository: 'acme/web', issueNumber: '8', deliveryId: 'door-2' } as never);
    const withTitle = (title: number[]) => Uint8Array.from([...valid, 0x42, title.length, ...title]); // field 8, issue_title
    const nul = await postEvent(sys.urls.intake, { topic: 'github.issues.codex.tasks', contentType: 'application/x-protobuf', body: withTitle([0x61, 0x00, 0x62]) });
    expect(nul.status).toBe(400);
    expect(nul.body.error.issues).toEqual([{ path: 'issueTitle', message: 'NUL characters (\\u0000) are not accepted' }]);
    const bad = await postEvent(sys.urls.intake, { topic: 'github.issues.codex.tasks', contentType: 'application/x-protobuf', body: withTitle([0x63, 0xc3, 0x28]) });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('malformed_protobuf');
  });

  it('an accepted Idea Spec is always dispatchable: its first Workflow is created', async () => {
    const { ideaId } = await submitIdea(sys, { id: 'door-ok', base: 'release/2026.12', labels: ['ui', 'needs-review'] });
    await tick(sys);
    const step = await new WorkflowWatch(sys, ideaId).next();
    expect(step.params.base).toBe('release/2026.12');
  });
});

describe('callbacks and status: hostile paths and bodies get 4xx', () => {
  let step: StepDouble;
  beforeAll(async () => {
    const { ideaId } = await submitIdea(sys, { id: 'hostile-callbacks' });
    await tick(sys);
    step = await new WorkflowWatch(sys, ideaId).next();
  });

  const raw = (body: string) =>
    fetch(step.params.callbackUrl!, { method: 'POST', headers: { authorization: `Bearer ${step.token}`, 'content-type': 'application/json' }, body });

  it.each([
    ['a NUL in a string', '{"seq":1,"type":"heartbeat","message":"a\\u0000"}', 'invalid_text'],
    ['a lone surrogate', '{"seq":1,"type":"heartbeat","message":"\\ud800"}', 'invalid_text'],
    ['5 000-deep artifact data', `{"seq":1,"type":"artifact","artifact":{"kind":"plan","data":${'['.repeat(5000)}${']'.repeat(5000)}}}`, 'too_complex'],
  ])('%s → 400, kept as a dead letter', async (_name, body, code) => {
    const res = await raw(body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe(code);
    const dl = await lastDeadLetter();
    expect(dl.function_name).toBe('callbacks');
    expect(Buffer.from(dl.payload).toString()).toBe(body);
  });

  it.each([
    ['costUsd past numeric(14, 6)', '{"seq":1,"type":"heartbeat","usage":{"costUsd":1e300}}', 'usage.costUsd'],
    ['tokens past bigint', '{"seq":1,"type":"heartbeat","usage":{"inputTokens":1e300}}', 'usage.inputTokens'],
  ])('%s → 400 naming the field, not a numeric overflow 500 (fuzzing)', async (_name, body, path) => {
    const res = await raw(body);
    expect(res.status).toBe(400);
    expect([...new Set(((await res.json()) as any).error.issues.map((i: any) => i.path))]).toEqual([path]);
  });

  it('a progress of 1e-185 is taken (rounded), not a real underflow 500 (fuzzing, chaos seed 101)', async () => {
    const res = await raw('{"seq":900,"type":"heartbeat","progress":1.6849356224212802e-185}');
    expect(res.status).toBe(202);
    const [run] = await sys.db.sql`select progress from codex_kb.task_runs where id = ${step.params.runId!}`;
    expect(run!.progress).toBe(0);
  });

  it("a stranger's 2 MB body gets 401 and is not stored; the step's own oversized body gets 413 and its prefix is kept", async () => {
    const count = async () => (await sys.db.sql`select count(*)::int as n from codex_kb.dead_letters where function_name = 'callbacks'`)[0]!.n;
    const before = await count();
    const big = 'x'.repeat(2 * 1024 * 1024);
    const stranger = await fetch(step.params.callbackUrl!, { method: 'POST', headers: { authorization: 'Bearer nope', 'content-type': 'application/json' }, body: big });
    expect(stranger.status).toBe(401);
    expect(await count()).toBe(before);
    const own = await fetch(step.params.callbackUrl!, { method: 'POST', headers: { authorization: `Bearer ${step.token}`, 'content-type': 'application/json' }, body: big });
    expect(own.status).toBe(413);
    expect(await count()).toBe(before + 1);
    expect((await lastDeadLetter()).payload_truncated).toBe(true);
  });

  it('and the run still takes valid events afterwards', async () => {
    expect((await step.post({ type: 'started' })).status).toBe(202);
  });

  it('malformed percent-encoding in a path → 400, with or without credentials, never a URIError 500', async () => {
    const before = (await sys.db.sql`select count(*)::int as n from codex_kb.dead_letters`)[0]!.n;
    const cb = await fetch(`${sys.urls.callbacks}/v1/runs/%ZZ/events`, { method: 'POST', body: '{}' });
    expect(cb.status).toBe(400);
    expect(((await cb.json()) as any).error.code).toBe('malformed_path');
    const st = await fetch(`${sys.urls.status}/v1/ideas/%E0%A4%A`);
    expect(st.status).toBe(400);
    // nothing stored for a caller who could not even name a run
    expect((await sys.db.sql`select count(*)::int as n from codex_kb.dead_letters`)[0]!.n).toBe(before);
  });
});
