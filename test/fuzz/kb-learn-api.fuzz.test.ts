// Fuzzing the knowledge base's learning routes of the status API (the preference-pair
// export, re-embedding, the promotion gate) through the production entry point (the status
// function in its own process): hostile query strings, bodies, paths and methods. Never a
// 5xx; without credentials a 401; a refused request names its problems.
import fc from 'fast-check';
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { hostileJson, hostileJsonText, hostileString, pathSegment, queryString, fuzzOptions, FUZZ_TIMEOUT_MS } from './arbitraries.js';
import { describe, send, startTargets, STATUS_TOKEN, type Targets } from './targets.js';

const auth = { authorization: `Bearer ${STATUS_TOKEN}` };
// lone surrogates sent as the bytes of one (invalid UTF-8, which the server must refuse)
const enc = (s: string) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\u0000')).replace(/%00/g, '%ED%A0%80');

let t: Targets;
beforeAll(async () => {
  t = await startTargets(['status']);
}, 90_000);
afterAll(() => t?.close());

suite('the knowledge base learning routes under fuzzing (a Functions Framework process)', () => {
  it('hostile export queries answer 2xx/4xx, JSONL when 200', async () => {
    const query = fc.oneof(
      queryString,
      fc.constantFrom('?since=2026-01-01', '?since=2026-13-45', "?since=1' or '1'='1", '?since={{x}}', '?limit=0', '?limit=99999999', '?cursor=%ZZ', '?since=%ED%A0%80', '?since=2026-01-01&since=2026-01-02'),
      hostileString.map((s) => `?since=${enc(s)}`),
      hostileString.map((s) => `?cursor=${enc(s)}`),
    );
    const path = fc.oneof(fc.constant('/v1/kb/preference-pairs'), pathSegment.map((s) => `/v1/kb/preference-pairs/${s}`), pathSegment.map((s) => `/v1/kb/reembed/${s}`));
    await fc.assert(
      fc.asyncProperty(path, query, fc.constantFrom({}, auth, auth), fc.constantFrom('GET', 'GET', 'POST', 'PUT'), async (p, q, headers, method) => {
        const answer = await send(`${t.urls.status}${p}${q}`, { method, headers });
        const what = describe(`status ${method} ${p}${q}`, undefined, answer);
        expect(answer.status, what).toBeLessThan(500);
        if (!('authorization' in headers)) expect(answer.status, what).toBe(401);
        if (answer.status === 400) expect(answer.body.error.issues.length, what).toBeGreaterThan(0);
      }),
      fuzzOptions(),
    );
  }, FUZZ_TIMEOUT_MS);

  it('hostile re-embed and promotion bodies answer 2xx/4xx, every refusal with its problems', async () => {
    const body = fc.oneof(
      hostileJsonText,
      hostileJson.map((j) => JSON.stringify(j)),
      fc.record({ to: hostileString, promote: fc.oneof(fc.boolean(), hostileString) }).map((j) => JSON.stringify(j)),
      fc.record({ kind: fc.oneof(fc.constantFrom('embedding', 'prompt', 'model'), hostileString), candidate: hostileString, faithfulness: fc.oneof(fc.double(), fc.constant(0.5), hostileString) }, { requiredKeys: [] }).map((j) => JSON.stringify(j)),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/v1/kb/reembed', '/v1/kb/promotions'), body, async (p, b) => {
        const answer = await send(`${t.urls.status}${p}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: b });
        const what = describe(`status POST ${p}`, b, answer);
        expect(answer.status, what).toBeLessThan(500);
        if (answer.status === 400) expect(answer.body.error.issues.length, what).toBeGreaterThan(0);
      }),
      fuzzOptions(),
    );
  }, FUZZ_TIMEOUT_MS);

  it('the status process is healthy afterwards', async () => {
    expect(t.children.status!.proc.exitCode).toBeNull();
  });
});
