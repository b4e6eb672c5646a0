// Fuzzing callbacks, status and dispatch through the production entry point: hostile
// bodies on a real run (past authentication, where the parsing happens), hostile paths and
// query strings on every route, with and without credentials. Never a 5xx; every rejected
// callback body from an authenticated step is kept as a dead letter.
import fc from 'fast-check';
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { Secret } from '../../shared/config/index.js';
import { runToken } from '../../shared/lifecycle/tokens.js';
import { binaryEvent, callbackBody, pathSegment, queryString, structuredEvent, fuzzOptions, FUZZ_TIMEOUT_MS } from './arbitraries.js';
import { CALLBACK_SECRET, describe, send, startTargets, STATUS_TOKEN, type Targets } from './targets.js';

let t: Targets;
let runId: string;
let token: string;

beforeAll(async () => {
  t = await startTargets(['intake', 'dispatch', 'callbacks', 'status']);
  const spec = { title: 'Fuzz target', goal: 'a live run to fuzz', successMetrics: ['no 5xx'], repository: 'acme/fuzz' };
  const headers = {
    'ce-specversion': '1.0', 'ce-type': 'dev.knative.kafka.event', 'ce-id': 'fuzz-live-run',
    'ce-source': '/apis/v1/namespaces/facteur/kafkasources/intake#codex.intent', 'content-type': 'application/json',
  };
  expect((await send(`${t.urls.intake}/`, { headers, body: JSON.stringify(spec) })).status).toBe(202);
  expect((await send(`${t.urls.dispatch}/tick`, {})).status).toBe(200);
  const wf = await t.kube.waitForCreate(undefined, 10_000);
  const params = Object.fromEntries((wf.spec.arguments.parameters as { name: string; value: string }[]).map((p) => [p.name, p.value]));
  runId = params.runId!;
  token = runToken(new Secret(CALLBACK_SECRET), runId, Number(params.attempt));
}, 90_000);
afterAll(() => t?.close());

const deadLetters = async (): Promise<number> => Number((await t.db.sql`select count(*)::int as n from codex_kb.dead_letters where function_name = 'callbacks'`)[0]!.n);

suite('callbacks, status and dispatch under fuzzing (Functions Framework processes)', () => {
  it('callbacks: hostile bodies on a live run never get a 5xx, and every 400 is kept', async () => {
    const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'text/plain', '%00');
    await fc.assert(
      fc.asyncProperty(callbackBody, contentType, async (body, ct) => {
        const before = await deadLetters();
        const answer = await send(`${t.urls.callbacks}/v1/runs/${runId}/events`, { headers: { authorization: `Bearer ${token}`, 'content-type': ct }, body });
        const what = describe('callbacks', body, answer);
        expect([200, 202, 400, 409, 413, 415], what).toContain(answer.status);
        expect((await deadLetters()) - before, what).toBe(answer.status === 400 ? 1 : 0);
      }),
      fuzzOptions(),
    );
  }, FUZZ_TIMEOUT_MS);

  it('callbacks: hostile paths, tokens and methods answer 4xx, and store nothing without a valid token', async () => {
    await fc.assert(
      fc.asyncProperty(pathSegment, fc.constantFrom('', 'Bearer x', `Bearer ${token}`, 'Basic Zm9v'), fc.constantFrom('POST', 'GET', 'PUT'), callbackBody, async (seg, auth, method, body) => {
        const before = await deadLetters();
        const answer = await send(`${t.urls.callbacks}/v1/runs/${seg}/events`, { method, headers: auth ? { authorization: auth, 'content-type': 'application/json' } : {}, ...(method === 'GET' ? {} : { body }) });
        const what = describe(`callbacks ${method} ${seg} (${auth || 'no auth'})`, body, answer);
        expect(answer.status, what).toBeGreaterThanOrEqual(200);
        expect(answer.status, what).toBeLessThan(500);
        if (seg !== runId) expect((await deadLetters()) - before, what).toBe(0);
      }),
      fuzzOptions(),
    );
  }, FUZZ_TIMEOUT_MS);

  it('status: hostile paths and query strings on every route answer 2xx/4xx, with or without the token', async () => {
    const route = fc.constantFrom('/v1/ideas/%s', '/v1/runs/%s', '/v1/ideas/%s/pause', '/v1/ideas/%s/nope', '/v1/approvals/%s/approve', '/v1/approvals/%s/votes', '/v1/approvals', '/v1/ideas', '/metrics', '/v1/metrics', '/v1/failures', '/v1/failures?repository=%s', '/v1/kb/health', '/v1/kb/%s', '/v1/kb/search', '/v1/runs/%s/context', '/%s', '/v1/%s');
    await fc.assert(
      fc.asyncProperty(route, pathSegment, queryString, fc.boolean(), fc.constantFrom('GET', 'POST', 'DELETE'), async (r, seg, q, authed, method) => {
        const path = r.replace('%s', seg) + q;
        const answer = await send(`${t.urls.status}${path}`, { method, headers: authed ? { authorization: `Bearer ${STATUS_TOKEN}`, 'x-facteur-actor': seg } : {} });
        const what = describe(`status ${method} ${path}`, undefined, answer);
        expect(answer.status, what).toBeLessThan(500);
        // the open routes, as the server sees the path (fetch resolves `%2e%2e` to `..`)
        // (resolved as one absolute URL: `/\\` alone is a scheme-relative reference with no host)
        const arrived = new URL(`${t.urls.status}${path}`).pathname;
        if (!authed && !['/', '/healthz'].includes(arrived)) expect(answer.status, what).toBe(401);
      }),
      fuzzOptions(),
    );
  }, FUZZ_TIMEOUT_MS);

  it('dispatch: hostile CloudEvents and paths answer 2xx/4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(binaryEvent, structuredEvent), fc.constantFrom('/', '/', '/tick', '/%ZZ', '/x'), async (req, path) => {
        const kept = async () => Number((await t.db.sql`select count(*)::int as n from codex_kb.dead_letters where function_name = 'dispatch'`)[0]!.n);
        const before = await kept();
        const answer = await send(`${t.urls.dispatch}${path}`, { headers: req.headers, body: req.body });
        const what = describe(`dispatch ${path} ${req.note}`, req.body, answer);
        expect(answer.status, what).toBeLessThan(500);
        // a refused CloudEvent is kept; unknown paths (404) are not events
        expect((await kept()) - before, what).toBe([400, 413, 415, 422].includes(answer.status) ? 1 : 0);
      }),
      fuzzOptions(),
    );
  }, FUZZ_TIMEOUT_MS);

  it('every process is healthy afterwards', async () => {
    for (const [name, child] of Object.entries(t.children)) {
      expect(child.proc.exitCode, name).toBeNull();
      expect((await send(`${t.urls[name as keyof Targets['urls']]}/healthz`, { method: 'GET' })).status, name).toBe(200);
    }
  });
});
