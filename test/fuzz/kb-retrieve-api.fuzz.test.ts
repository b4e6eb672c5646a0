// Fuzzing the knowledge base's retrieval routes of the status API through the production
// entry point (the status function in its own process): hostile search text (SQL, `{{`, NUL,
// lone surrogates, malformed percent-encoding, huge), hostile run ids, paths, methods and
// identities. Never a 5xx; without credentials a 401; a refused query names its problems;
// the lessons are never touched by what is searched.
import fc from 'fast-check';
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { hostileString, pathSegment, queryString, fuzzOptions, FUZZ_TIMEOUT_MS } from './arbitraries.js';
import { describe, send, sendUnlessRefused, startTargets, STATUS_TOKEN, type Targets } from './targets.js';

let t: Targets;
const auth = { authorization: `Bearer ${STATUS_TOKEN}` };
/** Percent-encoded, a lone surrogate as the bytes of one (invalid UTF-8, which the server must refuse). */
const enc = (s: string) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\u0000')).replace(/%00/g, '%ED%A0%80');
const lessons = async () => Number((await t.db.sql`select count(*)::int as n from codex_kb.reflections`)[0]!.n);

beforeAll(async () => {
  t = await startTargets(['status']);
  await t.db.sql`
    insert into codex_kb.reflections (reflection_type, content, repository, source)
    select 'lesson', 'lesson ' || i || ': {{ name }} and ''; drop table x; -- stay text', 'acme/web', 'synthetic' from generate_series(1, 30) as i`;
}, 90_000);
afterAll(() => t?.close());

suite('the retrieval routes under fuzzing (a Functions Framework process)', () => {
  it('hostile search text, run ids, query strings, methods and identities answer 2xx/4xx', async () => {
    const query = fc.oneof(
      queryString,
      hostileString.map((s) => `?q=${enc(s)}`),
      hostileString.map((s) => `?q=lesson&repository=${enc(s)}`),
      hostileString.map((s) => `?q=lesson&limit=${enc(s)}`),
      fc.constantFrom('?q=%', '?q=%E0%A4%A', '?q=%ZZ', "?q='%3B%20drop%20table%20codex_kb.reflections%3B--", '?q={{name}}', '?q=' + 'x'.repeat(5000), '?q=a&q=b', '?limit=1', '?q=lesson&limit=50&repository=acme/web'),
    );
    const path = fc.oneof(fc.constant('/v1/kb/search'), pathSegment.map((s) => `/v1/runs/${s}/context`), pathSegment.map((s) => `/v1/kb/${s}`));
    const identity = fc.oneof(fc.constant({}), fc.constant(auth), hostileString.map((s) => ({ authorization: `Bearer ${s}` })));
    const before = await lessons();
    await fc.assert(
      fc.asyncProperty(path, query, identity, fc.constantFrom('GET', 'GET', 'GET', 'POST', 'DELETE'), async (p, q, headers, method) => {
        const answer = await sendUnlessRefused(`${t.urls.status}${p}${q}`, { method, headers: headers as Record<string, string> });
        if (!answer) return;
        const what = describe(`status ${method} ${p}${q.slice(0, 200)} ${JSON.stringify(headers).slice(0, 100)}`, undefined, answer);
        expect(answer.status, what).toBeLessThan(500);
        if (!('authorization' in headers)) expect(answer.status, what).toBe(401);
        if (answer.status === 400) expect(answer.body.error.issues.length, what).toBeGreaterThan(0);
        if (answer.status === 200 && p === '/v1/kb/search') expect(answer.body.items.length, what).toBeLessThanOrEqual(50);
      }),
      fuzzOptions(),
    );
    expect(await lessons()).toBe(before);
  }, FUZZ_TIMEOUT_MS);

  it('the status process is healthy afterwards', async () => {
    expect(t.children.status!.proc.exitCode).toBeNull();
    expect((await send(`${t.urls.status}/healthz`, { method: 'GET' })).status).toBe(200);
  });
});
