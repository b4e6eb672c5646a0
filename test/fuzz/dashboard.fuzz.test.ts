// Fuzzing the dashboard through the production entry point (the status function in its own
// Functions Framework process): hostile paths, query strings, form bodies, cookies and
// identity headers on every dashboard route. Never a 5xx; no credential, no page; a POST
// without the page's CSRF token changes nothing. The event stream is checked apart (a valid
// request to it never ends, by design): through this adapter it streams at once.
import fc from 'fast-check';
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { hostileString, pathSegment, fuzzOptions, FUZZ_TIMEOUT_MS } from './arbitraries.js';
import { describe, send, startTargets, STATUS_TOKEN, type Targets } from './targets.js';

let t: Targets;
const auth = { authorization: `Bearer ${STATUS_TOKEN}` };

beforeAll(async () => {
  t = await startTargets(['status']);
}, 90_000);
afterAll(() => t?.close());

/** Every dashboard route but the event stream; `%s` takes a hostile path segment. */
export const DASHBOARD_ROUTES = ['/ui/ideas', '/ui/idea?id=%s', '/ui/run?id=%s', '/ui/policy', '/ui/failures', '/ui/metrics', '/ui/kb', '/ui/signin', '/ui/signout', '/ui/action', '/ui/vote', '/ui/bulk', '/ui/app.js', '/ui/app.css', '/ui/%s', '/ui', '/'];

/** Percent-encoded; a lone surrogate (which encodeURIComponent refuses) as the bytes a client might send for it. */
const encoded = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80';
  }
};

const dashboardQuery = fc
  .array(fc.tuple(fc.constantFrom('state', 'repository', 'label', 'q', 'cursor', 'limit', 'id', 'dag', 'next', 'x', '%ZZ', '%00'), fc.oneof(pathSegment, hostileString.map(encoded), fc.constantFrom('all', 'active', 'blocked', '{{', '%ZZ', '%00', 'x'.repeat(5000)))), { maxLength: 4 })
  .map((kv) => kv.map(([k, v]) => `${k}=${v}`).join('&'));

const formBody = fc.oneof(
  dashboardQuery,
  hostileString,
  fc.record({ _csrf: fc.oneof(fc.constant(''), hostileString), id: pathSegment, action: fc.constantFrom('pause', 'cancel', 'x'), decision: fc.constantFrom('approve', 'reject', '{{'), approval: pathSegment, token: hostileString }, { requiredKeys: [] })
    .map((r) => new URLSearchParams(r as Record<string, string>).toString()),
);

suite('the dashboard under fuzzing (Functions Framework process)', () => {
  it('hostile paths, queries, forms, cookies and identities answer 2xx/3xx/4xx; no POST without its CSRF token changes anything', async () => {
    const before = await t.db.sql`select count(*)::int as n from codex_kb.audit_log`;
    const identity = fc.oneof(
      fc.constant({}),
      fc.constant(auth),
      hostileString.map((s) => ({ cookie: `facteur_session=${s}; facteur_csrf=${s}` })),
      hostileString.map((s) => ({ ...auth, cookie: `facteur_csrf=${s}` })),
      hostileString.map((s) => ({ authorization: `Bearer ${s}` })),
      hostileString.map((s) => ({ ...auth, 'x-forwarded-prefix': s, accept: 'text/html' })),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...DASHBOARD_ROUTES), pathSegment, dashboardQuery, identity, fc.constantFrom('GET', 'POST', 'PUT'), formBody, fc.constantFrom('application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x'), async (r, seg, q, headers, method, body, ct) => {
        const path = r.replace('%s', seg) + (q ? (r.includes('?') ? `&${q}` : `?${q}`) : '');
        let answer;
        try {
          answer = await send(`${t.urls.status}${path}`, { method, headers: { ...(headers as Record<string, string>), ...(method === 'GET' ? {} : { 'content-type': ct }) }, ...(method === 'GET' ? {} : { body }) });
        } catch (err) {
          // fetch refuses what HTTP cannot carry (NUL, CR/LF in a header): nothing was sent
          if (err instanceof TypeError) return;
          throw err;
        }
        const what = describe(`status ${method} ${path} ${JSON.stringify(headers).slice(0, 120)}`, body, answer);
        expect(answer.status, what).toBeLessThan(500);
      }),
      fuzzOptions(),
    );
    // nothing was done: every POST lacked a valid CSRF token (the only audited actions are a POST's)
    const after = await t.db.sql`select count(*)::int as n from codex_kb.audit_log`;
    expect(after[0]!.n).toBe(before[0]!.n);
  }, FUZZ_TIMEOUT_MS);

  it('the event stream answers at once through the Functions Framework adapter, and refuses hostile queries with a 4xx', async () => {
    const ac = new AbortController();
    const res = await fetch(`${t.urls.status}/ui/events`, { headers: auth, signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value!).toString()).toContain('retry: 1000');
    ac.abort();
    for (const q of ['?idea=%ZZ', '?idea=%00', '?idea={{', '?x=1', `?idea=${'a'.repeat(5000)}`]) {
      const r = await send(`${t.urls.status}/ui/events${q}`, { method: 'GET', headers: auth });
      expect(r.status, q).toBeGreaterThanOrEqual(400);
      expect(r.status, q).toBeLessThan(500);
    }
  });

  it('the process is healthy afterwards', async () => {
    expect(t.children.status!.proc.exitCode).toBeNull();
    expect((await send(`${t.urls.status}/healthz`, { method: 'GET' })).status).toBe(200);
  });
});
