// Intake behind Knative's OIDC sender authentication: the real handler over real HTTP, a
// real PostgreSQL, and a FAKE OIDC issuer (test/auth/fake-issuer.ts) in the API server's
// place — over TLS with its own CA, and demanding the pod's own token for discovery.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, UnsecuredJWT } from 'jose';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { ideaSpec, kafkaEventRequest, postEvent, serve, type Served } from '../helpers/http.js';
import { FAKE_CA_FILE, newKey, startFakeIssuer, type FakeIssuer } from './fake-issuer.js';

const SOURCE = 'system:serviceaccount:facteur:kafka-source-intake';
const OTHER_SOURCE = 'system:serviceaccount:facteur:kafka-source-backfill';
const INTAKE_AUD = 'serving.knative.dev/service/facteur/intake';
const DISPATCH_AUD = 'serving.knative.dev/service/facteur/dispatch';
const POD_TOKEN = 'FAKE-pod-service-account-token';

let db: TestDb;
let issuer: FakeIssuer;
let srv: Served;
const tokenFile = join(mkdtempSync(join(tmpdir(), 'facteur-oidc-')), 'token');
writeFileSync(tokenFile, `${POD_TOKEN}\n`);

const oidcEnv = (iss: FakeIssuer, extra: Record<string, string> = {}) => ({
  FACTEUR_OIDC_ISSUER: iss.url,
  FACTEUR_OIDC_AUDIENCE: INTAKE_AUD,
  FACTEUR_OIDC_ALLOWED_SUBJECTS: `${SOURCE}, ${OTHER_SOURCE}`,
  FACTEUR_OIDC_DISCOVERY_TOKEN_FILE: tokenFile,
  FACTEUR_OIDC_CA_FILE: FAKE_CA_FILE,
  ...extra,
});

const servedWith = (env: Record<string, string>) => serve(createIntakeHandler({ sql: db.sql, config: loadConfig(env), log: silentLogger }));

beforeAll(async () => {
  db = await createTestDb();
  issuer = await startFakeIssuer({ tls: true, requireBearer: POD_TOKEN });
  srv = await servedWith(oidcEnv(issuer));
});
afterAll(async () => {
  await srv.close();
  await issuer.close();
});

const count = async (table: string, where = 'true') =>
  Number((await db.sql.unsafe(`select count(*)::int as n from codex_kb.${table} where ${where}`))[0]!.n);

let n = 0;
/** An Idea Spec as the KafkaSource posts it; the answer with its headers. */
async function post(url: string, authorization: string | undefined, body = JSON.stringify(ideaSpec({ id: `oidc-${++n}` }))) {
  const req = kafkaEventRequest({ topic: 'codex.intent', body, ...(authorization ? { headers: { authorization } } : {}) });
  const res = await fetch(url, { method: 'POST', headers: req.headers, body: req.body as string });
  const text = await res.text();
  return { status: res.status, headers: Object.fromEntries(res.headers), body: JSON.parse(text) as any, text };
}
const bearer = (t: string) => `Bearer ${t}`;

describe('intake with OIDC sender authentication', () => {
  it('accepts a valid token from an allowed subject and records the verified sender with the delivery', async () => {
    const r = await post(srv.url, bearer(await issuer.token({ sub: SOURCE, aud: INTAKE_AUD })));
    expect(r.status).toBe(202);
    const [d] = await db.sql`select sender from codex_kb.deliveries where idea_id = ${r.body.ideaId}`;
    expect(d!.sender).toEqual({ kind: 'oidc', sub: SOURCE, iss: issuer.url });
    // discovery and keys came from the issuer over TLS (its own CA), with the pod's token
    expect(issuer.requests.map((q) => q.path)).toEqual(expect.arrayContaining(['/.well-known/openid-configuration', '/openid/v1/jwks']));
    for (const q of issuer.requests) expect(q.authorization).toBe(`Bearer ${POD_TOKEN}`);
  });

  it('verifies from cached keys: many events, no further request to the issuer', async () => {
    const before = issuer.requests.length;
    const token = await issuer.token({ sub: SOURCE, aud: INTAKE_AUD });
    const results = await Promise.all(Array.from({ length: 20 }, () => post(srv.url, bearer(token))));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(202));
    expect(issuer.requests.length).toBe(before);
  });

  it('records each sender through the group commit (concurrent events from two sources)', async () => {
    const [a, b] = [await issuer.token({ sub: SOURCE, aud: INTAKE_AUD }), await issuer.token({ sub: OTHER_SOURCE, aud: INTAKE_AUD })];
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => post(srv.url, bearer(i % 2 ? b : a), JSON.stringify(ideaSpec({ id: `group-${i}` })))));
    expect(results.every((r) => r.status === 202)).toBe(true);
    const rows = await db.sql<{ delivery_key: string; sender: { sub: string } }[]>`
      select delivery_key, sender from codex_kb.deliveries where delivery_key like 'idea-spec:group-%'`;
    expect(rows).toHaveLength(16);
    for (const row of rows) {
      const i = Number(row.delivery_key.split('-').pop());
      expect(row.sender, row.delivery_key).toEqual({ kind: 'oidc', sub: i % 2 ? OTHER_SOURCE : SOURCE, iss: issuer.url });
    }
  });

  it('records the sender of facts too (a workflow completion)', async () => {
    const body = JSON.stringify({ metadata: { name: 'facteur-nobody-1', uid: 'uid-oidc-1' }, status: { phase: 'Succeeded' } });
    const r = await postEvent(srv.url, { topic: 'argo.workflows.completions', body, headers: { authorization: bearer(await issuer.token({ sub: SOURCE, aud: INTAKE_AUD })) } });
    expect(r.status).toBe(202);
    const [d] = await db.sql`select sender from codex_kb.deliveries where delivery_key = 'argo-completion:uid-oidc-1:Succeeded'`;
    expect(d!.sender).toEqual({ kind: 'oidc', sub: SOURCE, iss: issuer.url });
  });

  describe('refuses with 401 and a reason code, storing nothing, echoing no token', () => {
    const refusals: { name: string; make: () => Promise<string | undefined>; code: string }[] = [
      { name: 'no Authorization header', make: async () => undefined, code: 'missing_token' },
      { name: 'not a bearer', make: async () => 'Basic dXNlcjpwYXNz', code: 'malformed_token' },
      { name: 'an expired token', make: async () => bearer(await issuer.token({ sub: SOURCE, aud: INTAKE_AUD, issuedAt: -7200, notBefore: -7200, expiresIn: -3600 })), code: 'token_expired' },
      { name: 'a token not valid yet', make: async () => bearer(await issuer.token({ sub: SOURCE, aud: INTAKE_AUD, notBefore: 600 })), code: 'token_not_yet_valid' },
      { name: "dispatch's audience sent to intake", make: async () => bearer(await issuer.token({ sub: SOURCE, aud: DISPATCH_AUD })), code: 'wrong_audience' },
      { name: 'another issuer', make: async () => {
        const other = await startFakeIssuer();
        try {
          return bearer(await other.token({ sub: SOURCE, aud: INTAKE_AUD }));
        } finally {
          await other.close();
        }
      }, code: 'wrong_issuer' },
      { name: 'a key not in the JWKS (issued before our keys were fetched)', make: async () => bearer(await issuer.token({ sub: SOURCE, aud: INTAKE_AUD, key: await newKey(), issuedAt: -300 })), code: 'unknown_key' },
      { name: "a known kid, another key's signature", make: async () => {
        const forged = { ...(await newKey()), kid: issuer.keys[0]!.kid };
        return bearer(await issuer.token({ sub: SOURCE, aud: INTAKE_AUD, key: forged }));
      }, code: 'invalid_signature' },
      { name: 'a subject not on the allowlist', make: async () => bearer(await issuer.token({ sub: 'system:serviceaccount:default:curious', aud: INTAKE_AUD })), code: 'subject_not_allowed' },
      { name: 'alg none', make: async () => bearer(new UnsecuredJWT({ sub: SOURCE }).setIssuer(issuer.url).setAudience(INTAKE_AUD).setExpirationTime('1h').encode()), code: 'malformed_token' },
      { name: 'HS256 (a shared secret, not the issuer key)', make: async () => bearer(
        await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: issuer.keys[0]!.kid }).setIssuer(issuer.url).setSubject(SOURCE).setAudience(INTAKE_AUD).setExpirationTime('1h')
          .sign(new TextEncoder().encode('x'.repeat(32))),
      ), code: 'malformed_token' },
      { name: 'garbage with three parts', make: async () => bearer('aaaa.bbbb.cccc'), code: 'malformed_token' },
      { name: 'a bearer that is not a JWT', make: async () => bearer('not-a-jwt'), code: 'invalid_token' },
    ];

    it.each(refusals)('$name → $code', async ({ make, code }) => {
      const authorization = await make();
      const before = { dead: await count('dead_letters'), deliveries: await count('deliveries'), ideas: await count('ideas') };
      const id = `refused-${code}-${++n}`;
      const res = await post(srv.url, authorization, JSON.stringify(ideaSpec({ id, title: 'SECRET-BODY-MARKER' })));
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe(code);
      const token = authorization?.split(' ')[1];
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      if (token) expect(res.text).not.toContain(token);
      // a 401 keeps nothing: no dead letter, no delivery, no idea
      expect(await count('dead_letters')).toBe(before.dead);
      expect(await count('dead_letters', `convert_from(payload, 'UTF8') like '%SECRET-BODY-MARKER%'`)).toBe(0);
      expect(await count('deliveries')).toBe(before.deliveries);
      expect(await count('ideas')).toBe(before.ideas);
    });
  });

  it('accepts either the static token or an OIDC token when both are configured', async () => {
    const both = await servedWith({ ...oidcEnv(issuer), FACTEUR_INTAKE_TOKEN: 'static-intake-token' });
    try {
      const viaToken = await post(both.url, 'Bearer static-intake-token');
      expect(viaToken.status).toBe(202);
      const viaOidc = await post(both.url, bearer(await issuer.token({ sub: SOURCE, aud: INTAKE_AUD })));
      expect(viaOidc.status).toBe(202);
      const senders = await db.sql`select idea_id, sender from codex_kb.deliveries where idea_id in ${db.sql([viaToken.body.ideaId, viaOidc.body.ideaId])}`;
      expect(senders.find((s) => s.idea_id === viaToken.body.ideaId)!.sender).toEqual({ kind: 'token' });
      expect(senders.find((s) => s.idea_id === viaOidc.body.ideaId)!.sender).toEqual({ kind: 'oidc', sub: SOURCE, iss: issuer.url });
      expect((await post(both.url, 'Bearer wrong-static-token')).body.error.code).toBe('invalid_token');
    } finally {
      await both.close();
    }
  });

  it('records {kind:"open"} when intake authenticates nobody', async () => {
    const open = await servedWith({});
    try {
      const r = await post(open.url, undefined);
      expect(r.status).toBe(202);
      const [d] = await db.sql`select sender from codex_kb.deliveries where idea_id = ${r.body.ideaId}`;
      expect(d!.sender).toEqual({ kind: 'open' });
    } finally {
      await open.close();
    }
  });
});

describe('the sender column', () => {
  it('takes only the shapes shared/auth produces', async () => {
    const insert = (sender: unknown) => db.sql`
      insert into codex_kb.deliveries (delivery_key, kind, sender) values (${`check-${++n}`}, 'telemetry', ${db.sql.json(sender as never)})`;
    await insert({ kind: 'open' });
    await insert({ kind: 'token' });
    await insert({ kind: 'oidc', sub: SOURCE, iss: 'https://issuer' });
    for (const bad of [{ kind: 'anonymous' }, { kind: 'oidc', sub: SOURCE }, { kind: 'token', value: 'the-token' }, { kind: 'oidc', sub: SOURCE, iss: 'x', token: 'eyJ' }]) {
      await expect(insert(bad), JSON.stringify(bad)).rejects.toMatchObject({ constraint_name: 'deliveries_sender_check' });
    }
  });
});

describe('when the issuer cannot be reached', () => {
  it('answers 503 (retryable, no dead letter), then accepts once the issuer is back', async () => {
    const flaky = await startFakeIssuer({ tls: true, requireBearer: POD_TOKEN });
    await flaky.setMode('down');
    const s = await servedWith(oidcEnv(flaky));
    try {
      const before = await count('dead_letters');
      const token = await flaky.token({ sub: SOURCE, aud: INTAKE_AUD });
      const down = await post(s.url, bearer(token), JSON.stringify(ideaSpec({ id: 'while-issuer-down' })));
      expect(down.status).toBe(503);
      expect(down.body.error.code).toBe('issuer_unavailable');
      expect(Number(down.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(await count('dead_letters')).toBe(before);
      expect(await count('deliveries', `delivery_key = 'idea-spec:while-issuer-down'`)).toBe(0);
      // an issuer that answers 500 is no better
      await flaky.setMode('error');
      expect((await post(s.url, bearer(token), JSON.stringify(ideaSpec({ id: 'while-issuer-down' })))).status).toBe(503);
      await flaky.setMode('up');
      const back = await post(s.url, bearer(token), JSON.stringify(ideaSpec({ id: 'while-issuer-down' })));
      expect(back.status).toBe(202);
    } finally {
      await s.close();
      await flaky.close();
    }
  });

  it('gives up on a silent issuer after the fetch timeout, with a 503', async () => {
    const silent = await startFakeIssuer({ tls: true });
    await silent.setMode('hang');
    const s = await servedWith(oidcEnv(silent, { FACTEUR_OIDC_FETCH_TIMEOUT_MS: '300' }));
    try {
      const started = Date.now();
      const r = await post(s.url, bearer(await silent.token({ sub: SOURCE, aud: INTAKE_AUD })));
      expect(r.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await s.close();
      await silent.setMode('down');
    }
  });

  it('keeps verifying with the keys it has while a refresh fails', async () => {
    const flaky = await startFakeIssuer({ tls: true, requireBearer: POD_TOKEN });
    const s = await servedWith(oidcEnv(flaky, { FACTEUR_OIDC_JWKS_MAX_AGE_S: '1' }));
    try {
      expect((await post(s.url, bearer(await flaky.token({ sub: SOURCE, aud: INTAKE_AUD })))).status).toBe(202);
      await flaky.setMode('down');
      await new Promise((r) => setTimeout(r, 1200)); // the cached keys are now past their max age
      expect((await post(s.url, bearer(await flaky.token({ sub: SOURCE, aud: INTAKE_AUD })))).status).toBe(202);
      // a key it never saw cannot be checked while the issuer is away: retry, not refuse
      const rotated = await newKey('ES256');
      flaky.keys = [rotated, ...flaky.keys];
      const r = await post(s.url, bearer(await flaky.token({ sub: SOURCE, aud: INTAKE_AUD, key: rotated })));
      expect(r.status).toBe(503);
    } finally {
      await s.close();
      await flaky.close();
    }
  });
});

describe('key rotation', () => {
  it('accepts a token signed with a new key once the JWKS is fetched again', async () => {
    const rotating = await startFakeIssuer({ tls: true, requireBearer: POD_TOKEN });
    // keys are refetched when stale (1 s) or, for an unseen kid, once the cooldown (1 s) is over
    const s = await servedWith(oidcEnv(rotating, { FACTEUR_OIDC_JWKS_COOLDOWN_S: '1', FACTEUR_OIDC_JWKS_MAX_AGE_S: '1' }));
    try {
      expect((await post(s.url, bearer(await rotating.token({ sub: SOURCE, aud: INTAKE_AUD })))).status).toBe(202);
      const fetches = () => rotating.requests.filter((q) => q.path === '/openid/v1/jwks').length;
      const before = fetches();
      const next = await newKey('ES256');
      rotating.keys = [next, ...rotating.keys];
      const token = await rotating.token({ sub: SOURCE, aud: INTAKE_AUD, key: next });
      // within the cooldown after the last fetch: not refused, asked to come back
      const early = await post(s.url, bearer(token), JSON.stringify(ideaSpec({ id: 'rotated' })));
      expect(early.status).toBe(503);
      expect(early.body.error.code).toBe('signing_key_not_yet_known');
      expect(Number(early.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 1100));
      const later = await post(s.url, bearer(token), JSON.stringify(ideaSpec({ id: 'rotated' })));
      expect(later.status).toBe(202);
      expect(fetches()).toBe(before + 1);
      // the old key, gone from the JWKS, no longer verifies once the cached copy is stale
      const old = rotating.keys[1]!;
      rotating.keys = [next];
      await new Promise((r) => setTimeout(r, 1100));
      const stale = await post(s.url, bearer(await rotating.token({ sub: SOURCE, aud: INTAKE_AUD, key: old })));
      expect(stale.status).toBe(401);
      expect(stale.body.error.code).toBe('unknown_key');
    } finally {
      await s.close();
      await rotating.close();
    }
  });

  it('with no cooldown, refetches at once for an unseen key id', async () => {
    const rotating = await startFakeIssuer({ tls: true, requireBearer: POD_TOKEN });
    const s = await servedWith(oidcEnv(rotating, { FACTEUR_OIDC_JWKS_COOLDOWN_S: '0' }));
    try {
      expect((await post(s.url, bearer(await rotating.token({ sub: SOURCE, aud: INTAKE_AUD })))).status).toBe(202);
      const next = await newKey('RS256');
      rotating.keys = [next, ...rotating.keys];
      expect((await post(s.url, bearer(await rotating.token({ sub: SOURCE, aud: INTAKE_AUD, key: next })))).status).toBe(202);
      // and a key that is nowhere is refused right after that refetch
      const r = await post(s.url, bearer(await rotating.token({ sub: SOURCE, aud: INTAKE_AUD, key: await newKey() })));
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('unknown_key');
    } finally {
      await s.close();
      await rotating.close();
    }
  });
});
