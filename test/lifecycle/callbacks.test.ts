// Callbacks (CONTRACTS §7): duplicate, forged, stale, oversized and invalid events; unknown
// and unauthorized run ids answered alike; the token reaching the step through its Secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACT_KINDS } from '../../shared/callbacks/artifact-kinds.js';
import { tokenSecretName } from '../../shared/argo/index.js';
import { runToken } from '../../shared/lifecycle/tokens.js';
import { Secret } from '../../shared/config/index.js';
import { plan, runTokenOf, STAGE_RESULT, startSystem, submitIdea, tick, WorkflowWatch, type StepDouble, type System } from '../helpers/system.js';

let sys: System;
let step: StepDouble;
let ideaId: string;

beforeAll(async () => {
  sys = await startSystem({ FACTEUR_MAX_ATTEMPTS: '3' });
  ({ ideaId } = await submitIdea(sys, { id: 'callbacks-1' }));
  await tick(sys);
  step = await new WorkflowWatch(sys, ideaId).next();
});
afterAll(() => sys.close());

const runStatus = async (id: string) => (await sys.db.sql`select status from codex_kb.task_runs where id = ${id}`)[0]!.status;

describe('the run token', () => {
  it('reaches the step through a Secret the Workflow owns; the Workflow holds it nowhere', async () => {
    expect(step.token).toBe(runToken(new Secret('test-callback-secret'), step.runId, 1));
    // searched in every Workflow stored, and in every request body the API received
    const workflows = JSON.stringify(sys.kube!.workflows());
    const sent = JSON.stringify(sys.kube!.requests.filter((r) => r.path.includes('/workflows')).map((r) => r.body));
    for (const text of [workflows, sent]) {
      expect(text).not.toContain(step.token);
      expect(text).not.toContain(Buffer.from(step.token).toString('base64'));
    }
    const [wf] = sys.kube!.workflows().filter((w) => w.metadata.name === step.name);
    const secret = sys.kube!.secrets().find((x) => x.metadata.name === tokenSecretName(step.name))!;
    expect(secret.metadata.ownerReferences).toEqual([
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', name: step.name, uid: wf!.metadata.uid, blockOwnerDeletion: false },
    ]);
    const [run] = await sys.db.sql`select r.idea_id, r.attempt, t.key from codex_kb.task_runs r join codex_kb.tasks t on t.id = r.task_id where r.id = ${step.runId}`;
    expect(secret.metadata.labels).toMatchObject({
      'facteur.dev/idea': run!.idea_id, 'facteur.dev/task': run!.key, 'facteur.dev/run': step.runId, 'facteur.dev/attempt': String(run!.attempt),
    });
    expect(runTokenOf(sys.kube!, wf!)).toBe(step.token);
  });
});

describe('callbacks', () => {
  it('records started and answers a repeated seq exactly as the first time, changing nothing', async () => {
    const first = await step.post({ type: 'started', message: 'go' }, { seq: 1 });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ runId: step.runId, seq: 1, recorded: true, runStatus: 'running' });
    const again = await step.post({ type: 'started', message: 'go' }, { seq: 1 });
    expect(again).toEqual({ status: 200, body: first.body });
    const [n] = await sys.db.sql`select count(*)::int as n from codex_kb.run_events where run_id = ${step.runId} and seq = 1`;
    expect(n!.n).toBe(1);
  });

  it('moves progress on heartbeats and stores artifacts', async () => {
    expect((await step.post({ type: 'heartbeat', progress: 0.3 }, { seq: 2 })).status).toBe(202);
    const [r] = await sys.db.sql`select progress, last_heartbeat_at from codex_kb.task_runs where id = ${step.runId}`;
    expect(r!.progress).toBeCloseTo(0.3);
    const report = STAGE_RESULT.implementation!.find((a) => a.kind === 'test-report')!.data;
    expect((await step.post({ type: 'artifact', artifact: { kind: 'test-report', data: report } }, { seq: 3 })).status).toBe(202);
    const [a] = await sys.db.sql`select artifact_type, data, checksum from codex_kb.artifacts where run_id = ${step.runId}`;
    expect(a).toMatchObject({ artifact_type: 'test-report', data: report, checksum: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('stores an artifact of every kind the contract names (the database agrees with the list)', async () => {
    const samples: Record<string, unknown> = {
      plan: plan(['only']),
      review: { verdict: 'approved', summary: 'ok' },
      reflection: { lesson: 'keep tests close' },
      toolchain: { source: 'detected', adapters: [{ toolchain: 'node', root: '.', confidence: 0.9, evidence: ['package-lock.json'], commands: [{ name: 'test', argv: ['npm', 'test'], cwd: '.' }] }] },
      prompt: { version: 'facteur-prompt/1', digest: `sha256:${'a'.repeat(64)}`, bytes: 1200, truncated: [] },
      policy: { path: '.facteur/policy.yml', digest: `sha256:${'b'.repeat(64)}`, document: { schemaVersion: 1, rules: { churn: { maxLinesPerTask: 100 } } } },
      ...Object.fromEntries(Object.values(STAGE_RESULT).flat().map((a) => [a.kind, a.data])),
    };
    let seq = 100;
    for (const kind of ARTIFACT_KINDS) {
      expect(samples[kind], kind).toBeDefined();
      const r = await step.post({ type: 'artifact', artifact: { kind, data: samples[kind] } }, { seq: seq++ });
      expect(r.status, `${kind}: ${JSON.stringify(r.body)}`).toBe(202);
    }
  });

  it('a planning run\'s toolchain artifact becomes the intent\'s toolchain hypotheses', async () => {
    const [before] = await sys.db.sql`select intent from codex_kb.ideas where id = ${ideaId}`;
    const data = { source: 'file', adapters: [{ toolchain: 'python', root: 'svc', confidence: 1, evidence: ['.facteur/toolchain.yml'], commands: [{ name: 'test', argv: ['pytest'], cwd: 'svc' }] }] };
    expect((await step.post({ type: 'artifact', artifact: { kind: 'toolchain', data } }, { seq: 90 })).status).toBe(202);
    const [after] = await sys.db.sql`select intent from codex_kb.ideas where id = ${ideaId}`;
    expect(after!.intent.toolchainHypotheses).toEqual([{ toolchain: 'python', root: 'svc', confidence: 1, evidence: ['.facteur/toolchain.yml'], source: 'file' }]);
    expect(after!.intent.title).toBe(before!.intent.title); // the rest of the intent as it was
  });

  it('refuses an artifact that is not in its kind\'s shape, naming every problem, and keeps nothing of it', async () => {
    const bad = {
      base: 'not-a-sha',
      head: '2222222',
      files: [{ path: 'a.txt', added: -1, removed: 0, status: 'exploded' }],
      added: 1,
    };
    const r = await step.post({ type: 'artifact', artifact: { kind: 'diff-stats', data: bad } }, { seq: 40 });
    expect(r.status).toBe(400);
    const paths = (r.body.error.issues as { path: string }[]).map((i) => i.path).sort();
    expect(paths).toEqual(['artifact.data.base', 'artifact.data.files.0.added', 'artifact.data.files.0.status', 'artifact.data.removed']);
    const [n] = await sys.db.sql`select count(*)::int as n from codex_kb.artifacts where run_id = ${step.runId} and data->>'base' = 'not-a-sha'`;
    expect(n!.n).toBe(0);
    // extra fields are kept: an agent may say more than the contract asks
    const good = { ...(STAGE_RESULT.implementation![0]!.data as object), agent: 'example' };
    expect((await step.post({ type: 'artifact', artifact: { kind: 'diff-stats', data: good } }, { seq: 41 })).status).toBe(202);
  });

  it('401 for a forged token, a token of another run, or none', async () => {
    expect((await step.post({ type: 'heartbeat' }, { token: 'forged', seq: 50 })).status).toBe(401);
    const other = runToken(new Secret('test-callback-secret'), '00000000-0000-0000-0000-000000000000', 1);
    expect((await step.post({ type: 'heartbeat' }, { token: other, seq: 51 })).status).toBe(401);
    const wrongAttempt = runToken(new Secret('test-callback-secret'), step.runId, 2);
    expect((await step.post({ type: 'heartbeat' }, { token: wrongAttempt, seq: 52 })).status).toBe(401);
    const res = await fetch(step.params.callbackUrl!, { method: 'POST', body: JSON.stringify({ seq: 53, type: 'heartbeat' }) });
    expect(res.status).toBe(401);
  });

  it('400 listing every problem, and the input kept', async () => {
    const r = await step.post({ type: 'explode', progress: 7, artifact: { kind: 'poem' } }, { seq: 0 });
    expect(r.status).toBe(400);
    expect(r.body.error.issues.map((i: any) => i.path).sort()).toEqual(['artifact.data', 'artifact.kind', 'progress', 'seq', 'type']);
    const [dl] = await sys.db.sql`select function_name, status_code from codex_kb.dead_letters order by id desc limit 1`;
    expect(dl).toEqual({ function_name: 'callbacks', status_code: 400 });
  });

  it('413 over 1 MiB', async () => {
    const r = await step.post({ type: 'artifact', artifact: { kind: 'reflection', data: 'x'.repeat(1024 * 1024) } }, { seq: 60 });
    expect(r.status).toBe(413);
  });

  it('answers an unknown run, a malformed run id and a bad token alike: the same 401, so no one learns which runs exist', async () => {
    const post = async (id: string, token: string | undefined, body = JSON.stringify({ seq: 70, type: 'heartbeat' })) => {
      const res = await fetch(step.params.callbackUrl!.replace(step.runId, id), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body,
      });
      return { status: res.status, authenticate: res.headers.get('www-authenticate'), body: await res.json() };
    };
    const unknown = '11111111-1111-1111-1111-111111111111';
    const answers = [
      await post(step.runId, 'forged'), // a real run, a bad token
      await post(unknown, 'forged'), // no such run
      await post(unknown, runToken(new Secret('test-callback-secret'), unknown, 1)), // no such run, even with its "right" token
      await post('not-a-uuid', 'forged'),
      await post(unknown, undefined),
      await post(unknown, 'forged', '{"not":"an event"}'), // the body is not even looked at
    ];
    const expected = {
      status: 401, authenticate: 'Bearer',
      body: { error: { code: 'unauthorized', message: 'the bearer token is not valid for this run', issues: [] } },
    };
    for (const a of answers) expect(a).toEqual(expected);
    // and nothing was recorded for any of them
    const [n] = await sys.db.sql`select count(*)::int as n from codex_kb.run_events where seq = 70`;
    expect(n!.n).toBe(0);
  });

  it('a failed attempt is superseded: its late callbacks get 409 and change nothing; the new attempt has its own name and token', async () => {
    const failed = await step.post({ type: 'completed', outcome: 'failed', error: { code: 'agent_crashed', message: 'boom' } }, { seq: 4 });
    expect(failed.status).toBe(202);
    expect(await runStatus(step.runId)).toBe('failed');
    // a late event of the finished attempt; the retry (backoff 0 here) was already
    // dispatched in the completion's request path, so attempt 1 is superseded
    const late = await step.post({ type: 'heartbeat' }, { seq: 5 });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('stale_attempt');
    const watch = new WorkflowWatch(sys, ideaId);
    const [w1, w2] = [await watch.next(), await watch.next()];
    expect(w1.name).toBe(step.name);
    const newStep = w2;
    expect(newStep.name).toMatch(/-a2$/);
    expect(newStep.name.replace(/-a2$/, '')).toBe(step.name.replace(/-a1$/, ''));
    expect(newStep.params.attempt).toBe('2');
    expect(newStep.token).not.toBe(step.token);
    expect(runTokenOf(sys.kube!, newStep.workflow)).toBe(newStep.token); // its own Secret
    // the old attempt's token does not work on the new run, nor its completion count
    expect((await newStep.post({ type: 'started' }, { token: step.token, seq: 1 })).status).toBe(401);
    // a late 'completed' from attempt 1 cannot finish anything
    const stale = await step.post({ type: 'completed', outcome: 'succeeded' }, { seq: 6 });
    expect(stale.status).toBe(409);
    expect(await runStatus(newStep.runId)).toBe('running');
    expect(await runStatus(step.runId)).toBe('failed');
    // the exit handler of a finished run: 409, which facteur-step --if-unfinished treats as done
    expect((await step.post({ type: 'completed', outcome: 'failed' }, { seq: 2_000_000_000 })).status).toBe(409);
  });
});
