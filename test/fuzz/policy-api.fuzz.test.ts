// Fuzzing the policy API and the roles through the production entry point (status and
// policy, each its own process): hostile pack YAML and JSON, repository policies, paths,
// query strings and identity headers. Never a 5xx; a refused pack stores nothing.
import fc from 'fast-check';
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { pathSegment, queryString, hostileString, fuzzOptions, FUZZ_TIMEOUT_MS } from './arbitraries.js';
import { packJson, packYaml, repositoryPolicyBody, YAML_CONTENT_TYPES } from './policy-arbitraries.js';
import { describe, send, startTargets, STATUS_TOKEN, type Targets } from './targets.js';

let t: Targets;
const auth = { authorization: `Bearer ${STATUS_TOKEN}` };

beforeAll(async () => {
  t = await startTargets(['status', 'policy']);
}, 90_000);
afterAll(() => t?.close());

const packs = async (): Promise<number> => Number((await t.db.sql`select count(*)::int as n from codex_kb.policy_packs`)[0]!.n);

suite('the policy API under fuzzing (Functions Framework processes)', () => {
  for (const fn of ['status', 'policy'] as const) {
    it(`${fn}: hostile pack YAML and JSON answer 2xx/4xx; a refused one stores nothing`, async () => {
      const body = fc.oneof(
        fc.tuple(packYaml, fc.constantFrom(...YAML_CONTENT_TYPES)),
        fc.tuple(packJson, fc.constantFrom('application/json', 'application/json; charset=utf-16')),
      );
      await fc.assert(
        fc.asyncProperty(body, async ([payload, ct]) => {
          const before = await packs();
          const answer = await send(`${t.urls[fn]}/v1/policy-packs`, { headers: { ...auth, ...(ct ? { 'content-type': ct } : {}) }, body: payload });
          const what = describe(`${fn} POST /v1/policy-packs (${ct})`, payload, answer);
          expect([200, 201, 400, 409, 413, 415], what).toContain(answer.status);
          if (answer.status >= 400) expect(await packs(), what).toBe(before);
          if (answer.status === 400) expect(answer.body.error.issues.length, what).toBeGreaterThan(0);
        }),
        fuzzOptions(),
      );
    }, FUZZ_TIMEOUT_MS);
  }

  it('status: hostile repository policies answer 2xx/4xx', async () => {
    await fc.assert(
      fc.asyncProperty(repositoryPolicyBody, pathSegment, fc.constantFrom('application/json', 'text/plain'), fc.nat(2), async (body, seg, ct, which) => {
        const path = ['/v1/repositories/acme/web/policy', `/v1/repositories/${seg}/web/policy`, `/v1/repositories/acme/${seg}/policy`][which]!;
        const answer = await send(`${t.urls.status}${path}`, { method: 'PUT', headers: { ...auth, 'content-type': ct }, body });
        const what = describe(`status PUT ${path}`, body, answer);
        expect([200, 400, 404, 413, 415], what).toContain(answer.status);
      }),
      fuzzOptions(),
    );
  }, FUZZ_TIMEOUT_MS);

  it('status and policy: hostile paths, query strings and identity headers on every new route answer 2xx/4xx', async () => {
    const route = fc.constantFrom(
      '/v1/policy-packs', '/v1/policy-packs/%s', '/v1/policy-packs/%s/1/activate', '/v1/policy-packs/default/%s/activate',
      '/v1/repositories/%s/web/policy', '/v1/repositories/acme/%s/policy', '/v1/repositories/acme/%s/policy/effective',
      '/v1/ideas/%s/findings', '/v1/tasks/%s/findings', '/v1/runs/%s/findings', '/v1/ideas/%s/checks', '/v1/evaluate', '/v1/policy', '/%s',
    );
    const identity = fc.oneof(
      fc.constant({}),
      fc.constant(auth),
      hostileString.map((s) => ({ ...auth, 'x-facteur-actor': s })),
      hostileString.map((s) => ({ 'tailscale-user-login': s })),
      hostileString.map((s) => ({ authorization: `Bearer ${s}` })),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('status', 'policy'), route, pathSegment, queryString, identity, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), async (fn, r, seg, q, headers, method) => {
        const path = r.replace('%s', seg) + q;
        let answer;
        try {
          answer = await send(`${t.urls[fn as 'status' | 'policy']}${path}`, { method, headers: headers as Record<string, string> });
        } catch (err) {
          // fetch itself refuses header values HTTP cannot carry (NUL, CR/LF): nothing was sent
          if (err instanceof TypeError) return;
          throw err;
        }
        const what = describe(`${fn} ${method} ${path} ${JSON.stringify(headers).slice(0, 100)}`, undefined, answer);
        expect(answer.status, what).toBeLessThan(500);
        const arrived = new URL(`${t.urls.status}${path}`).pathname;
        if (!('authorization' in headers) && !['/', '/healthz'].includes(arrived)) expect(answer.status, what).toBe(401);
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
