// Verification of OIDC tokens: the Kubernetes service-account JWTs Knative Eventing's
// sources send (feature `authentication-oidc`). The keys come from the issuer's JWKS, found
// by discovery (`<issuer>/.well-known/openid-configuration` → `jwks_uri`) or configured,
// and are cached: a request costs no round trip once they are known.
//
// What the sender hears: a token that is wrong is a 401 with a reason code (and stays
// wrong, so the source does not retry it); keys that could not be fetched are a 503 (the
// issuer is down, not the sender wrong: the source retries). A key id not yet seen makes
// jose fetch the key set again, at most once per cooldown; inside the cooldown, a token
// issued after our last fetch may be signed with a key newer than our copy (rotation), so
// it gets a 503 and comes back once a refetch is allowed, instead of being dropped.
import { existsSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type FetchImplementation,
  type JWTPayload,
  type RemoteJWKSet,
} from 'jose';
import { z } from 'zod';
import type { OidcConfig } from '../config/index.js';
import { RetryableError, UnauthorizedError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { createFetcher, type Get } from './fetch.js';

/** Why a token was refused: the `code` of the 401. */
export type RefusalCode =
  | 'malformed_token'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'unknown_key'
  | 'invalid_signature'
  | 'subject_not_allowed';

export interface VerifiedToken {
  readonly sub: string;
  readonly iss: string;
}

export interface OidcVerifier {
  /** Resolves with the verified subject, or throws UnauthorizedError (401) / RetryableError (503). */
  verify(token: string): Promise<VerifiedToken>;
  /** Fetches discovery and keys ahead of the first request; never throws. */
  warm(): Promise<void>;
}

/** Kubernetes' service-account tokens: RSA or EC P-256 signatures. */
export const ALLOWED_ALGORITHMS = ['RS256', 'ES256'] as const;

/** Where a pod finds its own service-account token and the cluster CA (automounted). */
export const IN_CLUSTER_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';
export const IN_CLUSTER_CA_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';

/** Cached keys stay usable this long past their max age while the issuer cannot be reached. */
const STALE_IF_ERROR_MS = 60 * 60_000;

const discoverySchema = z.object({ issuer: z.string(), jwks_uri: z.string().url() });

export interface OidcVerifierOptions {
  readonly log?: Logger;
  /** For the in-cluster defaults; default: the real files. */
  readonly exists?: (path: string) => boolean;
}

export function createOidcVerifier(cfg: OidcConfig, opts: OidcVerifierOptions = {}): OidcVerifier {
  const log = opts.log;
  const { tokenFile, caFile } = discoveryCredentials(cfg, opts.exists ?? existsSync);
  const get = createFetcher({ tokenFile, caFile, timeoutMs: cfg.fetchTimeoutMs });
  const issuerOrigin = new URL(cfg.issuer).origin;
  // The pod's own token goes only over TLS, and only where it is meant to: the issuer, the
  // JWKS URL that was configured, or any host the configured CA vouches for (the cluster's
  // API servers, whose discovery names a jwks_uri at their own address).
  const bearerFor = (url: string): boolean => {
    if (!tokenFile) return false;
    const u = new URL(url);
    return u.protocol === 'https:' && (caFile !== undefined || u.origin === issuerOrigin || url === cfg.jwksUrl);
  };
  let lastKeysAt = 0;
  const jwksFetch: FetchImplementation = async (url, init) => {
    const res = await get(url, { headers: init.headers, signal: init.signal, bearer: bearerFor(url) });
    if (res.status === 200) lastKeysAt = Date.now();
    return res;
  };

  let remote: Promise<RemoteJWKSet> | undefined;
  const keySet = (): Promise<RemoteJWKSet> => {
    remote ??= resolveJwksUrl(cfg, get, bearerFor).then(
      (url) =>
        createRemoteJWKSet(new URL(url), {
          timeoutDuration: cfg.fetchTimeoutMs,
          cooldownDuration: cfg.jwksCooldownS * 1000,
          cacheMaxAge: cfg.jwksMaxAgeS * 1000,
          [customFetch]: jwksFetch,
        }),
      (err: unknown) => {
        remote = undefined; // the next request tries again
        throw err;
      },
    );
    return remote;
  };

  // jose's resolver, with what it does not do: keys already known keep working for a while
  // when a refresh fails, and any failure to get keys is told apart from a bad token.
  const resolveKey = async (header: Parameters<RemoteJWKSet>[0], token: Parameters<RemoteJWKSet>[1]) => {
    let jwks: RemoteJWKSet;
    try {
      jwks = await keySet();
    } catch (err) {
      throw new KeysUnavailable('issuer discovery failed', err);
    }
    try {
      return await jwks(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
      const cached = jwks.jwks();
      if (cached && Date.now() - lastKeysAt < cfg.jwksMaxAgeS * 1000 + STALE_IF_ERROR_MS) {
        log?.warn('oidc: could not refresh the issuer keys; using the cached ones', { error: messageOf(err) });
        try {
          return await createLocalJWKSet(cached)(header, token);
        } catch {
          // not among the keys we have: perhaps a newer one we could not fetch
        }
      }
      throw new KeysUnavailable('the issuer keys could not be fetched', err);
    }
  };

  const verify = async (token: string): Promise<VerifiedToken> => {
    const claims = precheck(token, cfg);
    const keysBefore = lastKeysAt;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, resolveKey, {
        issuer: cfg.issuer,
        audience: cfg.audience,
        algorithms: [...ALLOWED_ALGORITHMS],
        clockTolerance: cfg.clockToleranceS,
        requiredClaims: ['iss', 'sub', 'aud', 'exp'],
      }));
    } catch (err) {
      if (err instanceof KeysUnavailable) {
        log?.warn('oidc: cannot verify tokens: ' + err.message, { issuer: cfg.issuer, error: messageOf(err.cause) });
        throw new RetryableError('issuer_unavailable', 'the token issuer\'s keys cannot be fetched right now; retry later', 1000, { cause: err });
      }
      // No refetch happened for this token (the cooldown), and it was issued after (or about
      // when) our keys were fetched: its key may be newer than our copy.
      if (err instanceof errors.JWKSNoMatchingKey && lastKeysAt === keysBefore) {
        const jwks = await remote?.catch(() => undefined);
        if (jwks?.coolingDown && typeof claims.iat === 'number' && claims.iat * 1000 >= lastKeysAt - cfg.clockToleranceS * 1000) {
          const wait = Math.max(1000, lastKeysAt + cfg.jwksCooldownS * 1000 - Date.now());
          throw new RetryableError('signing_key_not_yet_known', 'the token is signed with a key the issuer may have just added; retry later', wait);
        }
      }
      throw refusal(err);
    }
    if (typeof payload.sub !== 'string' || !cfg.allowedSubjects.includes(payload.sub)) {
      throw unauthorized('subject_not_allowed', `subject ${clip(payload.sub)} is not allowed to send here`);
    }
    return { sub: payload.sub, iss: payload.iss! };
  };

  return {
    verify,
    async warm() {
      try {
        const jwks = await keySet();
        if (!jwks.fresh) await jwks.reload();
      } catch (err) {
        log?.warn('oidc: could not fetch the issuer keys yet (tokens get 503 until it can)', { issuer: cfg.issuer, error: messageOf(err) });
      }
    },
  };
}

/**
 * The checks that need no key, on the unverified token, so a wrong token gets its precise
 * reason (a token from another issuer would otherwise just name an unknown key) and costs no
 * key fetch. jwtVerify repeats every one of them on the verified claims.
 */
function precheck(token: string, cfg: OidcConfig): JWTPayload {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    claims = decodeJwt(token);
  } catch {
    throw unauthorized('malformed_token', 'the bearer token is not a signed JWT');
  }
  if (token.split('.').length !== 3) throw unauthorized('malformed_token', 'the bearer token is not a signed JWT (JWS compact form)');
  if (!(ALLOWED_ALGORITHMS as readonly string[]).includes(String(header.alg))) {
    throw unauthorized('malformed_token', `the token's algorithm ${clip(header.alg)} is not one of ${ALLOWED_ALGORITHMS.join(', ')}`);
  }
  if (claims.iss !== cfg.issuer) throw unauthorized('wrong_issuer', `the token was issued by ${clip(claims.iss)}, not by ${cfg.issuer}`);
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  if (!aud.includes(cfg.audience)) throw unauthorized('wrong_audience', `the token is for ${clip(claims.aud)}, not for this service's audience ${JSON.stringify(cfg.audience)}`);
  const now = Date.now() / 1000;
  if (typeof claims.exp !== 'number') throw unauthorized('malformed_token', 'the token has no expiry (exp)');
  if (claims.exp <= now - cfg.clockToleranceS) throw unauthorized('token_expired', 'the token has expired');
  if (typeof claims.nbf === 'number' && claims.nbf > now + cfg.clockToleranceS) throw unauthorized('token_not_yet_valid', 'the token is not valid yet (nbf)');
  return claims;
}

/** jose's verdict on a token as the sender's reason code. */
function refusal(err: unknown): UnauthorizedError | RetryableError {
  if (err instanceof errors.JWTExpired) return unauthorized('token_expired', 'the token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return unauthorized('token_not_yet_valid', 'the token is not valid yet (nbf)');
    if (err.claim === 'iss') return unauthorized('wrong_issuer', 'the token comes from another issuer');
    if (err.claim === 'aud') return unauthorized('wrong_audience', "the token is not for this service's audience");
    return unauthorized('malformed_token', `the token's ${err.claim} claim is missing or invalid`);
  }
  if (err instanceof errors.JWKSNoMatchingKey) return unauthorized('unknown_key', "the token's key (kid) is not among the issuer's keys");
  if (err instanceof errors.JWKSMultipleMatchingKeys) return unauthorized('unknown_key', 'the token names no key (kid) and the issuer has several');
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthorized('invalid_signature', 'the token signature does not verify');
  if (err instanceof errors.JOSEError) return unauthorized('malformed_token', 'the bearer token is not a valid JWT');
  // Not about the token: do not drop the event over it.
  return new RetryableError('verification_failed', 'the token could not be verified; retry later', 1000, { cause: err });
}

function unauthorized(code: RefusalCode, message: string): UnauthorizedError {
  return new UnauthorizedError(message, code);
}

class KeysUnavailable extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}

/** Discovery, unless a JWKS URL is configured. */
async function resolveJwksUrl(cfg: OidcConfig, get: Get, bearerFor: (url: string) => boolean): Promise<string> {
  if (cfg.jwksUrl) return cfg.jwksUrl;
  const url = `${cfg.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const res = await get(url, { bearer: bearerFor(url) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}${res.status === 401 || res.status === 403 ? ' (RBAC: bind system:service-account-issuer-discovery to this pod\'s service account)' : ''}`);
  const doc = discoverySchema.safeParse(await res.json().catch(() => undefined));
  if (!doc.success) throw new Error(`${url} is not an OpenID discovery document (issuer, jwks_uri)`);
  // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
  if (doc.data.issuer !== cfg.issuer) throw new Error(`${url} names issuer ${JSON.stringify(doc.data.issuer)}, not ${cfg.issuer}`);
  return doc.data.jwks_uri;
}

/**
 * The token and CA used for discovery and JWKS: as configured, or for the cluster's own
 * issuer (the API server, which asks for a bearer and is served with the cluster CA) the
 * pod's automounted ones when they exist. Another issuer gets neither by default: the pod's
 * token must not be handed to a third party.
 */
export function discoveryCredentials(cfg: OidcConfig, exists: (path: string) => boolean): { tokenFile: string | undefined; caFile: string | undefined } {
  const inCluster = [cfg.issuer, cfg.jwksUrl].some((u) => u !== undefined && isClusterApiHost(new URL(u).hostname));
  return {
    tokenFile: cfg.discoveryTokenFile ?? (inCluster && exists(IN_CLUSTER_TOKEN_FILE) ? IN_CLUSTER_TOKEN_FILE : undefined),
    caFile: cfg.caFile ?? (inCluster && exists(IN_CLUSTER_CA_FILE) ? IN_CLUSTER_CA_FILE : undefined),
  };
}

/** `kubernetes`, `kubernetes.default`, `kubernetes.default.svc`, `kubernetes.default.svc.<cluster domain>`. */
function isClusterApiHost(host: string): boolean {
  return /^kubernetes(\.default(\.svc(\.[a-z0-9-]+)*)?)?$/i.test(host);
}

/** A claim as it was sent, quoted and bounded (it is the sender's text, not ours). */
function clip(value: unknown): string {
  const s = JSON.stringify(value) ?? 'nothing';
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

function messageOf(err: unknown): string {
  const e = err as Error | undefined;
  const cause = e?.cause as Error | undefined;
  return [e?.message ?? String(err), cause?.message].filter(Boolean).join(': ');
}
