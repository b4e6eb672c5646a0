// The OIDC verifier on its own (shared/auth/oidc.ts), against the FAKE OIDC issuer: where
// the pod's own token may go, discovery's checks, the in-cluster defaults, and the config.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createOidcVerifier } from '../../shared/auth/index.js';
import { discoveryCredentials, IN_CLUSTER_CA_FILE, IN_CLUSTER_TOKEN_FILE } from '../../shared/auth/oidc.js';
import { loadConfig, type OidcConfig } from '../../shared/config/index.js';
import { RetryableError, UnauthorizedError } from '../../shared/errors/index.js';
import { FAKE_CA_FILE, startFakeIssuer, type FakeIssuer } from './fake-issuer.js';

const SUB = 'system:serviceaccount:facteur:facteur-intake-oidc-sources.knative.dev-kafkasource';
const AUD = 'serving.knative.dev/service/facteur/intake';
const POD_TOKEN = 'FAKE-pod-token';
const tokenFile = join(mkdtempSync(join(tmpdir(), 'facteur-oidc-')), 'token');
writeFileSync(tokenFile, POD_TOKEN);

const issuers: FakeIssuer[] = [];
const start = async (o: Parameters<typeof startFakeIssuer>[0] = {}) => {
  const i = await startFakeIssuer(o);
  issuers.push(i);
  return i;
};
afterEach(async () => {
  for (const i of issuers.splice(0)) await i.close();
});

const cfg = (issuer: string, o: Partial<OidcConfig> = {}): OidcConfig => ({
  issuer, audience: AUD, allowedSubjects: [SUB], jwksUrl: undefined, discoveryTokenFile: undefined, caFile: undefined,
  clockToleranceS: 30, fetchTimeoutMs: 2000, jwksMaxAgeS: 600, jwksCooldownS: 30, ...o,
});

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof UnauthorizedError) return `401 ${err.code}`;
    if (err instanceof RetryableError) return `503 ${err.code}`;
    throw err;
  }
}

describe('where the pod token goes', () => {
  it('to the issuer over TLS with the configured CA, and to a jwks_uri on another host that CA vouches for', async () => {
    const keys = await start({ tls: true, requireBearer: POD_TOKEN });
    const issuer = await start({ tls: true, requireBearer: POD_TOKEN, jwksUri: keys.jwksUrl });
    issuer.keys = keys.keys;
    const v = createOidcVerifier(cfg(issuer.url, { discoveryTokenFile: tokenFile, caFile: FAKE_CA_FILE }));
    expect(await v.verify(await issuer.token({ sub: SUB, aud: AUD }))).toEqual({ sub: SUB, iss: issuer.url });
    expect(issuer.requests.map((r) => r.path)).toEqual(['/.well-known/openid-configuration']);
    expect(keys.requests.map((r) => r.path)).toEqual(['/openid/v1/jwks']);
    for (const r of [...issuer.requests, ...keys.requests]) expect(r.authorization).toBe(`Bearer ${POD_TOKEN}`);
  });

  it('never in clear text', async () => {
    const issuer = await start();
    const v = createOidcVerifier(cfg(issuer.url, { discoveryTokenFile: tokenFile }));
    expect(await outcome(v.verify(await issuer.token({ sub: SUB, aud: AUD })))).toBe('ok');
    expect(issuer.requests.length).toBeGreaterThan(0);
    for (const r of issuer.requests) expect(r.authorization).toBeUndefined();
  });

  it('reads the token file at each fetch (a projected token rotates)', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'facteur-oidc-')), 'token');
    writeFileSync(file, 'first');
    const issuer = await start({ tls: true });
    const v = createOidcVerifier(cfg(issuer.url, { discoveryTokenFile: file, caFile: FAKE_CA_FILE, jwksMaxAgeS: 1 }));
    await v.verify(await issuer.token({ sub: SUB, aud: AUD }));
    writeFileSync(file, 'second');
    await new Promise((r) => setTimeout(r, 1100));
    await v.verify(await issuer.token({ sub: SUB, aud: AUD }));
    expect(issuer.requests.map((r) => r.authorization)).toEqual(['Bearer first', 'Bearer first', 'Bearer second']);
  });
});

describe('discovery', () => {
  it('is skipped when a JWKS URL is configured', async () => {
    const issuer = await start();
    const v = createOidcVerifier(cfg(issuer.url, { jwksUrl: issuer.jwksUrl }));
    expect(await outcome(v.verify(await issuer.token({ sub: SUB, aud: AUD })))).toBe('ok');
    expect(issuer.requests.map((r) => r.path)).toEqual(['/openid/v1/jwks']);
  });

  it('refuses a document that names another issuer (503: a misconfiguration, not the sender)', async () => {
    const issuer = await start({ claimedIssuer: 'https://elsewhere.example' });
    const v = createOidcVerifier(cfg(issuer.url));
    expect(await outcome(v.verify(await issuer.token({ sub: SUB, aud: AUD })))).toBe('503 issuer_unavailable');
    expect(issuer.requests.map((r) => r.path)).not.toContain('/openid/v1/jwks');
  });

  it('without the pod token, behind RBAC: 503', async () => {
    const issuer = await start({ tls: true, requireBearer: POD_TOKEN });
    const v = createOidcVerifier(cfg(issuer.url, { caFile: FAKE_CA_FILE }));
    expect(await outcome(v.verify(await issuer.token({ sub: SUB, aud: AUD })))).toBe('503 issuer_unavailable');
  });

  it('over TLS, trusts only the configured CA (and not a certificate it did not sign)', async () => {
    const issuer = await start({ tls: true });
    expect(await outcome(createOidcVerifier(cfg(issuer.url)).verify(await issuer.token({ sub: SUB, aud: AUD })))).toBe('503 issuer_unavailable');
    expect(await outcome(createOidcVerifier(cfg(issuer.url, { caFile: FAKE_CA_FILE })).verify(await issuer.token({ sub: SUB, aud: AUD })))).toBe('ok');
  });

  it('warm() fetches ahead and never throws', async () => {
    const issuer = await start();
    await createOidcVerifier(cfg(issuer.url)).warm();
    expect(issuer.requests.map((r) => r.path)).toEqual(['/.well-known/openid-configuration', '/openid/v1/jwks']);
    await issuer.setMode('down');
    await expect(createOidcVerifier(cfg(issuer.url)).warm()).resolves.toBeUndefined();
  });

  it('accepts ES256 keys and a token without kid when the JWKS has one key', async () => {
    const issuer = await start();
    const { newKey } = await import('./fake-issuer.js');
    issuer.keys = [await newKey('ES256')];
    const v = createOidcVerifier(cfg(issuer.url));
    expect(await outcome(v.verify(await issuer.token({ sub: SUB, aud: AUD, noKid: true })))).toBe('ok');
  });

  it('refuses a token with no kid when the JWKS has several keys: unknown_key', async () => {
    const issuer = await start();
    const { newKey } = await import('./fake-issuer.js');
    issuer.keys = [...issuer.keys, await newKey('RS256')];
    const v = createOidcVerifier(cfg(issuer.url));
    expect(await outcome(v.verify(await issuer.token({ sub: SUB, aud: AUD, noKid: true })))).toBe('401 unknown_key');
  });
});

describe('in-cluster defaults', () => {
  const all = () => true;
  const none = () => false;
  it("use the pod's automounted token and CA for the cluster's own issuer, when they exist", () => {
    for (const issuer of ['https://kubernetes.default.svc.cluster.local', 'https://kubernetes.default.svc', 'https://kubernetes.default']) {
      expect(discoveryCredentials(cfg(issuer), all)).toEqual({ tokenFile: IN_CLUSTER_TOKEN_FILE, caFile: IN_CLUSTER_CA_FILE });
      expect(discoveryCredentials(cfg(issuer), none)).toEqual({ tokenFile: undefined, caFile: undefined });
    }
  });
  it('give another issuer neither (the pod token is not handed to a third party)', () => {
    expect(discoveryCredentials(cfg('https://oidc.eks.eu-west-1.amazonaws.com/id/ABC'), all)).toEqual({ tokenFile: undefined, caFile: undefined });
  });
  it('yield to explicit settings', () => {
    expect(discoveryCredentials(cfg('https://kubernetes.default.svc', { discoveryTokenFile: '/t', caFile: '/ca' }), all)).toEqual({ tokenFile: '/t', caFile: '/ca' });
    // a JWKS URL on the cluster's API server counts as in-cluster too
    expect(discoveryCredentials(cfg('https://issuer.example', { jwksUrl: 'https://kubernetes.default.svc/openid/v1/jwks' }), all).tokenFile).toBe(IN_CLUSTER_TOKEN_FILE);
  });
});

describe('configuration', () => {
  const base = { FACTEUR_OIDC_ISSUER: 'https://kubernetes.default.svc.cluster.local', FACTEUR_OIDC_AUDIENCE: AUD, FACTEUR_OIDC_ALLOWED_SUBJECTS: `${SUB}, system:serviceaccount:facteur:other` };
  it('reads the OIDC rows', () => {
    const c = loadConfig({ ...base, FACTEUR_OIDC_JWKS_COOLDOWN_S: '5' }).oidc;
    expect(c).toMatchObject({ issuer: base.FACTEUR_OIDC_ISSUER, audience: AUD, allowedSubjects: [SUB, 'system:serviceaccount:facteur:other'], clockToleranceS: 30, fetchTimeoutMs: 5000, jwksMaxAgeS: 600, jwksCooldownS: 5 });
    expect(loadConfig({}).oidc).toBeUndefined();
  });
  it.each([
    [{ FACTEUR_OIDC_ISSUER: base.FACTEUR_OIDC_ISSUER }, /FACTEUR_OIDC_AUDIENCE: required.*FACTEUR_OIDC_ALLOWED_SUBJECTS: required/],
    [{ FACTEUR_OIDC_AUDIENCE: AUD }, /FACTEUR_OIDC_AUDIENCE: needs FACTEUR_OIDC_ISSUER/],
    [{ ...base, FACTEUR_OIDC_ISSUER: 'http://issuer.example' }, /FACTEUR_OIDC_ISSUER: must be an https URL/],
    [{ ...base, FACTEUR_OIDC_JWKS_URL: 'not a url' }, /FACTEUR_OIDC_JWKS_URL/],
    [{ ...base, FACTEUR_OIDC_ALLOWED_SUBJECTS: ' , ' }, /FACTEUR_OIDC_ALLOWED_SUBJECTS: list at least one subject/],
    [{ ...base, FACTEUR_OIDC_ALLOWED_SUBJECTS: 'a b' }, /holds whitespace/],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
