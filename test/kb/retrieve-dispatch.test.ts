// Retrieval on dispatch's path and on the status API, end to end over real HTTP and real
// PostgreSQL (the Kubernetes API is the FAKE at the boundary): a planning run's Workflow
// carries the repository's lessons in retrievedContext beside its own intent anchor, the
// run's decision is read back by GET /v1/runs/{id}/context, GET /v1/kb/search ranks the same
// way and refuses a bad query with every problem named, and a dead embedder still lets the
// run go out, degraded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchNow } from '../../shared/dispatch/engine.js';
import { createLocalEmbedder } from '../../shared/kb/embed/local.js';
import { ensureVersion } from '../../shared/kb/versions.js';
import { silentLogger } from '../../shared/log/index.js';
import { startSystem, submitIdea, tick, type System } from '../helpers/system.js';
import { FAKE_deadEmbedder, seedLesson } from './fixtures.js';

let sys: System;
const embedder = createLocalEmbedder();
const decode = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString('utf8');
const get = async (path: string) => {
  const res = await fetch(`${sys.urls.status}${path}`);
  return { status: res.status, body: (await res.json()) as any };
};

/** The Workflow of the idea's planning run, and its parameters decoded. */
async function planningWorkflow(ideaId: string) {
  const [run] = await sys.db.sql<{ id: string; status: string; external_run_id: string }[]>`
    select r.id, r.status, r.external_run_id from codex_kb.task_runs r where r.idea_id = ${ideaId}`;
  const wf = sys.kube!.workflows().find((w: any) => w.metadata.name === run!.external_run_id) as any;
  const p = Object.fromEntries(wf.spec.arguments.parameters.map((x: { name: string; value: string }) => [x.name, x.value]));
  return { run: run!, retrievedContext: decode(p.retrievedContext), intentAnchor: decode(p.intentAnchor) };
}

beforeAll(async () => {
  sys = await startSystem();
  await ensureVersion(sys.db.sql, embedder);
  await seedLesson(sys.db.sql, { repository: 'acme/web', stage: 'planning', outcome: 'failed', content: 'dark mode: the theme toggle must persist in localStorage, not a cookie', embedder });
  await seedLesson(sys.db.sql, { repository: 'acme/web', stage: 'review', outcome: 'succeeded', content: 'contrast ratio checks run in the visual test suite', embedder });
  await seedLesson(sys.db.sql, { repository: 'acme/other', content: 'dark mode in acme/other uses CSS variables', embedder });
}, 60_000);
afterAll(() => sys?.close());

describe('retrieval on dispatch and the status API', () => {
  it('a planning run\'s Workflow carries the repository\'s lessons; GET /v1/runs/{id}/context shows the decision', async () => {
    const { ideaId } = await submitIdea(sys, { id: 'kb-dispatch-1' });
    await tick(sys);
    const { run, retrievedContext, intentAnchor } = await planningWorkflow(ideaId);
    expect(run.status).toBe('running');
    expect(retrievedContext).toContain('the theme toggle must persist in localStorage');
    expect(retrievedContext).not.toContain('acme/other uses CSS variables');
    expect(Buffer.byteLength(retrievedContext)).toBeLessThanOrEqual(4096);
    // the intent anchor is its own parameter, untouched by retrieval
    expect(intentAnchor.length).toBeGreaterThan(0);
    expect(retrievedContext).not.toContain(intentAnchor.slice(0, 40));
    const ctx = await get(`/v1/runs/${run.id}/context`);
    expect(ctx.status).toBe(200);
    expect(ctx.body).toMatchObject({ runId: run.id, stage: 'planning', embeddingVersion: embedder.version, degraded: null, context: retrievedContext });
    expect(ctx.body.contextBytes).toBe(Buffer.byteLength(retrievedContext));
    expect(ctx.body.candidates.length).toBeGreaterThanOrEqual(1);
    for (const c of ctx.body.candidates) expect(Object.keys(c)).toEqual(expect.arrayContaining(['id', 'vectorDistance', 'textScore', 'fused', 'usefulness', 'injected', 'reason']));
    const [event] = await sys.db.sql`select actor, payload from codex_kb.run_events where run_id = ${run.id} and event_type = 'kb.retrieval'`;
    expect(event).toMatchObject({ actor: 'facteur', payload: { embeddingVersion: embedder.version, injected: ctx.body.injected } });
  });

  it('GET /v1/runs/{id}/context: 404 for an unknown run, 400 for a malformed id', async () => {
    expect((await get('/v1/runs/00000000-0000-4000-8000-000000000000/context')).status).toBe(404);
    const bad = await get('/v1/runs/not-a-uuid/context');
    expect(bad.status).toBe(400);
  });

  it('GET /v1/kb/search ranks with every score; SQL and {{ are plain text', async () => {
    const r = await get(`/v1/kb/search?q=${encodeURIComponent('dark mode theme toggle')}&repository=acme/web&limit=5`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ repository: 'acme/web', embeddingVersion: embedder.version, degraded: null });
    expect(r.body.items[0].excerpt).toContain('theme toggle');
    expect(r.body.items[0]).toMatchObject({ vectorRank: expect.any(Number), textRank: expect.any(Number), fused: expect.any(Number) });
    const hostile = await get(`/v1/kb/search?q=${encodeURIComponent("{{ toggle }}'; drop table codex_kb.reflections; --")}`);
    expect(hostile.status).toBe(200);
    expect((await sys.db.sql`select count(*)::int as n from codex_kb.reflections`)[0]!.n).toBe(3);
  });

  it('GET /v1/kb/search refuses a bad query with every problem in one 400', async () => {
    const r = await get(`/v1/kb/search?q=${encodeURIComponent('a\u0000b' + 'x'.repeat(1200))}&repository=nope&limit=500&extra=1`);
    expect(r.status).toBe(400);
    const paths = r.body.error.issues.map((i: { path: string }) => i.path).sort();
    expect(paths).toEqual(['extra', 'limit', 'q', 'q', 'repository']);
    expect((await get('/v1/kb/search')).body.error.issues).toEqual([{ path: 'q', message: expect.stringMatching(/required/) }]);
  });

  it('a dead embedder: the run is dispatched all the same, full-text context, degraded recorded', async () => {
    const { ideaId } = await submitIdea(sys, { id: 'kb-dispatch-2' });
    const deps = { sql: sys.db.sql, config: sys.config, log: silentLogger, workflows: sys.workflows, callbackBaseUrl: sys.urls.callbacks, embedder: FAKE_deadEmbedder(embedder) };
    await dispatchNow(deps, { ideaId });
    const { run, retrievedContext } = await planningWorkflow(ideaId);
    expect(run.status).toBe('running');
    expect(retrievedContext).toContain('the theme toggle must persist in localStorage');
    const ctx = await get(`/v1/runs/${run.id}/context`);
    expect(ctx.body).toMatchObject({ embeddingVersion: null, degraded: expect.stringMatching(/^embedder_error/) });
  });
});
