// Fuzzing the notifications route of the status API through the production entry point
// (the status function in its own process): hostile query strings, paths, methods and
// identity headers. Never a 5xx; without credentials a 401; a refused query names its
// problems. Some deliveries are in the ledger, so listings have rows and cursors to page.
import fc from 'fast-check';
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { hostileString, pathSegment, queryString, fuzzOptions, FUZZ_TIMEOUT_MS } from './arbitraries.js';
import { describe, send, startTargets, STATUS_TOKEN, type Targets } from './targets.js';

let t: Targets;
const auth = { authorization: `Bearer ${STATUS_TOKEN}` };
/** Percent-encoded, a lone surrogate as the bytes of one (invalid UTF-8, which the server must refuse). */
const enc = (s: string) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\u0000')).replace(/%00/g, '%ED%A0%80');

beforeAll(async () => {
  t = await startTargets(['status']);
  await t.db.sql`
    insert into codex_kb.notify_deliveries (notifier, event_id, event_type, subject, repository, state, attempts, last_error)
    select case when i % 2 = 0 then 'github' else 'discord' end, gen_random_uuid(), 'facteur.idea.registered', 'webhook', 'acme/web',
           (array['pending', 'failed', 'sent'])[1 + i % 3], i % 4, case when i % 3 = 2 then null else 'github_unavailable: GitHub answered 502' end
      from generate_series(1, 60) as i`;
}, 90_000);
afterAll(() => t?.close());

suite('the notifications route under fuzzing (a Functions Framework process)', () => {
  it('hostile query strings, paths, methods and identities answer 2xx/4xx', async () => {
    const query = fc.oneof(
      queryString,
      fc.constantFrom('?state=failed', '?state=pending,sent', '?state=sent,sent,sent,sent', '?notifier=github&limit=1', '?limit=0', '?limit=201', '?cursor=bmR8MQ', '?cursor=bmR8OTk5OTk5OTk5OTk5OTk5OTk5OQ', '?state=%00', '?notifier=Github'),
      hostileString.map((s) => `?state=${enc(s)}`),
      hostileString.map((s) => `?cursor=${enc(s)}`),
    );
    const path = fc.oneof(fc.constant('/v1/notifications'), pathSegment.map((s) => `/v1/notifications/${s}`), pathSegment.map((s) => `/v1/${s}/notifications`));
    const identity = fc.oneof(
      fc.constant({}),
      fc.constant(auth),
      hostileString.map((s) => ({ ...auth, 'x-facteur-actor': s })),
      hostileString.map((s) => ({ authorization: `Bearer ${s}` })),
    );
    await fc.assert(
      fc.asyncProperty(path, query, identity, fc.constantFrom('GET', 'GET', 'POST', 'PUT', 'DELETE'), async (p, q, headers, method) => {
        let answer;
        try {
          answer = await send(`${t.urls.status}${p}${q}`, { method, headers: headers as Record<string, string> });
        } catch (err) {
          // fetch itself refuses header values HTTP cannot carry (NUL, CR/LF): nothing was sent
          if (err instanceof TypeError) return;
          throw err;
        }
        const what = describe(`status ${method} ${p}${q} ${JSON.stringify(headers).slice(0, 100)}`, undefined, answer);
        expect(answer.status, what).toBeLessThan(500);
        if (!('authorization' in headers)) expect(answer.status, what).toBe(401);
        if (answer.status === 400) expect(answer.body.error.issues.length, what).toBeGreaterThan(0);
        if (answer.status === 200 && method === 'GET' && p === '/v1/notifications') {
          expect(Array.isArray(answer.body.items), what).toBe(true);
          expect(answer.body.items.length, what).toBeLessThanOrEqual(200);
        }
      }),
      fuzzOptions(),
    );
  }, FUZZ_TIMEOUT_MS);

  it('pages through the ledger with its cursors, each delivery once', async () => {
    const seen = new Set<string>();
    let cursor: string | null = '';
    while (cursor !== null) {
      const answer = await send(`${t.urls.status}/v1/notifications?state=pending,failed,sent&limit=7${cursor ? `&cursor=${cursor}` : ''}`, { method: 'GET', headers: auth });
      expect(answer.status).toBe(200);
      for (const item of answer.body.items) {
        expect(seen.has(item.eventId), JSON.stringify({ cursor, item })).toBe(false);
        seen.add(item.eventId);
      }
      cursor = answer.body.nextCursor;
    }
    expect(seen.size).toBe(60);
  });

  it('the status process is healthy afterwards', async () => {
    expect(t.children.status!.proc.exitCode).toBeNull();
    expect((await send(`${t.urls.status}/healthz`, { method: 'GET' })).status).toBe(200);
  });
});
