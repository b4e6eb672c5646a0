// Signing in to the dashboard, and CSRF.
//
// A person signs in once with an API token (the same tokens as the status API). The cookie
// never holds the token: it holds the token's *name*, the first 16 hex digits of its sha256,
// an expiry and a nonce, signed with HMAC-SHA256 under FACTEUR_DASHBOARD_SECRET. Each request
// checks the signature and the expiry, then looks the name up in the configuration as it is
// now: a token removed from (or rotated in) FACTEUR_API_TOKENS ends its sessions at once,
// and roles are always the configuration's, never the cookie's. A stolen cookie is worth a
// session until its expiry, not the token.
//
// CSRF: every form carries HMAC(secret, "csrf" | nonce | actor), where the nonce is a random
// value in an HttpOnly, SameSite=Strict cookie of its own (made on the first page, renewed
// at sign-in). A forged cross-site POST carries neither cookie (SameSite=Strict) nor a token
// it could compute; a token copied from one person's page does not verify for another.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Config, Role } from '../config/index.js';
import { ROLES } from '../config/index.js';
import type { Identifier, Principal } from '../auth/principal.js';
import { ForbiddenError } from '../errors/index.js';
import type { HttpRequest } from '../http/index.js';

export const SESSION_COOKIE = 'facteur_session';
export const CSRF_COOKIE = 'facteur_csrf';

interface KnownToken {
  readonly name: string;
  readonly sha256: string;
  readonly roles: readonly Role[];
}

export interface Sessions {
  /** The signed-in principal of a request's session cookie, or undefined. */
  principalOf(req: HttpRequest): Principal | undefined;
  /** Checks a token as the status API would; the Set-Cookie value of a new session, or undefined. */
  signIn(token: string, secure: boolean): { cookie: string; principal: Principal } | undefined;
  signOutCookie(secure: boolean): string;
  /** The request's CSRF nonce, and a Set-Cookie header when it has none yet. */
  nonceOf(req: HttpRequest, secure: boolean): { nonce: string; setCookie?: string };
  freshNonce(secure: boolean): { nonce: string; setCookie: string };
  csrfToken(nonce: string, actor: string): string;
  /** Throws ForbiddenError (403) unless the form's `_csrf` matches the request's nonce and caller. */
  checkCsrf(req: HttpRequest, form: URLSearchParams, actor: string): void;
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');
const safeEqual = (a: string, b: string) => {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
};

/** Cookie values by name; a malformed header yields what parsed. */
export function cookiesOf(req: HttpRequest): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers['cookie'] ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    if (!out.has(k)) out.set(k, part.slice(eq + 1).trim());
  }
  return out;
}

/** A request came over https: directly, or through a proxy that says so. */
export function isHttps(req: HttpRequest): boolean {
  return (req.headers['x-forwarded-proto'] ?? '').split(',')[0]!.trim() === 'https';
}

const cookie = (name: string, value: string, secure: boolean, maxAgeS: number) =>
  `${name}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;

export function createSessions(config: Pick<Config, 'statusToken' | 'api' | 'dashboard'>, identifier: Identifier, now: () => number = Date.now): Sessions {
  // Without a configured secret a process signs with its own: sessions end when it stops
  // (and do not cross replicas), which is what local mode wants and the README tells.
  const key = config.dashboard.secret ? Buffer.from(config.dashboard.secret.reveal(), 'utf8') : randomBytes(32);
  const mac = (text: string) => createHmac('sha256', key).update(text).digest('base64url');
  const known: KnownToken[] = config.api.tokens.map((t) => ({ name: t.name, sha256: t.sha256.toLowerCase(), roles: t.roles }));
  if (config.statusToken) known.push({ name: 'status', sha256: createHash('sha256').update(config.statusToken.reveal(), 'utf8').digest('hex'), roles: [...ROLES] });
  const ttlS = config.dashboard.sessionHours * 3600;

  return {
    principalOf(req) {
      const raw = cookiesOf(req).get(SESSION_COOKIE);
      if (!raw || raw.length > 1000) return undefined;
      const [v, payload, sig, extra] = raw.split('.');
      if (v !== 'v1' || !payload || !sig || extra !== undefined || !safeEqual(sig, mac(`v1.${payload}`))) return undefined;
      let s: { n?: unknown; h?: unknown; e?: unknown };
      try {
        s = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof s;
      } catch {
        return undefined;
      }
      if (typeof s.e !== 'number' || s.e * 1000 < now()) return undefined;
      const k = known.find((t) => t.name === s.n && t.sha256.slice(0, 16) === s.h);
      if (!k) return undefined;
      return { via: 'token', name: `token:${k.name}`, roles: k.roles, actor: `token:${k.name}` };
    },
    signIn(token, secure) {
      let principal: Principal;
      try {
        principal = identifier.identify({ method: 'POST', path: '/', query: new URLSearchParams(), headers: { authorization: `Bearer ${token}` }, body: Buffer.alloc(0) });
      } catch {
        return undefined;
      }
      const digest = createHash('sha256').update(token, 'utf8').digest('hex');
      const k = known.find((t) => t.sha256 === digest);
      if (!k || principal.via !== 'token') return undefined;
      const payload = b64(JSON.stringify({ n: k.name, h: k.sha256.slice(0, 16), e: Math.floor(now() / 1000) + ttlS, s: b64(randomBytes(9)) }));
      return { cookie: cookie(SESSION_COOKIE, `v1.${payload}.${mac(`v1.${payload}`)}`, secure, ttlS), principal };
    },
    signOutCookie: (secure) => cookie(SESSION_COOKIE, '', secure, 0),
    nonceOf(req, secure) {
      const have = cookiesOf(req).get(CSRF_COOKIE);
      if (have && /^[A-Za-z0-9_-]{22,64}$/.test(have)) return { nonce: have };
      return this.freshNonce(secure);
    },
    freshNonce(secure) {
      const nonce = b64(randomBytes(18));
      return { nonce, setCookie: cookie(CSRF_COOKIE, nonce, secure, 30 * 86400) };
    },
    csrfToken: (nonce, actor) => mac(`csrf|${nonce}|${actor}`),
    checkCsrf(req, form, actor) {
      const nonce = cookiesOf(req).get(CSRF_COOKIE);
      const sent = form.get('_csrf');
      if (!nonce || !sent || !safeEqual(sent, mac(`csrf|${nonce}|${actor}`))) {
        throw new ForbiddenError('this form is not from your dashboard page (CSRF token missing or wrong): reload the page and try again', 'csrf_refused');
      }
    },
  };
}

/**
 * The status API's identifier, taught the dashboard's session cookie: on `/ui/` paths a
 * valid session is the caller (unless the request carries its own Authorization header).
 * The JSON API never accepts the cookie, so a cookie can never be replayed against it.
 */
export function withSessions(inner: Identifier, sessions: Sessions): Identifier {
  return {
    mode: inner.mode,
    identify(req) {
      if (req.path.startsWith('/ui/') && req.headers['authorization'] === undefined) {
        const p = sessions.principalOf(req);
        if (p) return p;
      }
      return inner.identify(req);
    },
  };
}
