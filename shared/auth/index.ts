// Who is sending: the event senders of intake and dispatch (Knative's KafkaSources and
// PingSource, or whoever holds the static token) authenticate here, and the verified sender
// is what intake records with each delivery.
//
//   nothing configured            → every caller is `{kind:'open'}` (the cluster boundary)
//   FACTEUR_INTAKE_TOKEN          → `Authorization: Bearer <that token>` → `{kind:'token'}`
//   FACTEUR_OIDC_ISSUER (+ …)     → `Authorization: Bearer <OIDC JWT>`   → `{kind:'oidc', sub, iss}`
//   both                          → either one
//
// A refusal is an UnauthorizedError (401) whose code says why; keys that cannot be fetched
// are a RetryableError (503). Neither ever carries the token.
import type { Config } from '../config/index.js';
import { UnauthorizedError } from '../errors/index.js';
import { bearerMatches, type HttpRequest } from '../http/index.js';
import type { Logger } from '../log/index.js';
import { createOidcVerifier, type OidcVerifier } from './oidc.js';

export { createOidcVerifier, ALLOWED_ALGORITHMS, type OidcVerifier, type RefusalCode, type VerifiedToken } from './oidc.js';

export type Sender =
  | { readonly kind: 'oidc'; readonly sub: string; readonly iss: string }
  | { readonly kind: 'token' }
  | { readonly kind: 'open' };

export interface Authenticator {
  /** The verified sender; throws UnauthorizedError (401) or RetryableError (503). */
  authenticate(req: HttpRequest): Promise<Sender>;
  /** Fetches the OIDC issuer's keys ahead of the first request (no-op without OIDC). */
  warm(): Promise<void>;
}

const OPEN: Sender = Object.freeze({ kind: 'open' });
const TOKEN: Sender = Object.freeze({ kind: 'token' });

export function createAuthenticator(config: Pick<Config, 'intakeToken' | 'oidc'>, opts: { log?: Logger } = {}): Authenticator {
  const { intakeToken: token, oidc } = config;
  const verifier: OidcVerifier | undefined = oidc ? createOidcVerifier(oidc, opts) : undefined;
  const log = opts.log;
  return {
    warm: () => verifier?.warm() ?? Promise.resolve(),
    async authenticate(req) {
      if (!token && !verifier) return OPEN;
      const header = req.headers['authorization'];
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
      if (bearer === undefined) {
        throw header === undefined
          ? new UnauthorizedError('a bearer token is required (Authorization: Bearer <token>)', 'missing_token')
          : new UnauthorizedError('the Authorization header is not "Bearer <token>"', 'malformed_token');
      }
      if (token && bearerMatches(header, token)) return TOKEN;
      // A JWT has three dot-separated parts; anything else could only have been the static token.
      if (!verifier || bearer.split('.').length !== 3) {
        throw new UnauthorizedError('the bearer token is not valid', 'invalid_token');
      }
      try {
        const { sub, iss } = await verifier.verify(bearer);
        return { kind: 'oidc', sub, iss };
      } catch (err) {
        // the reason, never the token
        if (err instanceof UnauthorizedError) log?.info('auth: token refused', { code: err.code, reason: err.message });
        throw err;
      }
    },
  };
}
