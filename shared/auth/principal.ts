// Who is calling the people's APIs (status, policy), and what each role may do there.
//
//   nothing configured          → open: every caller has every role (local mode, tests)
//   Authorization: Bearer <t>   → the named token whose sha256 is sha256(t)   → `token:<name>`
//   FACTEUR_STATUS_TOKEN        → a token named `status` with every role and actFor
//   Tailscale-User-Login        → that login, when FACTEUR_TAILSCALE_IDENTITY → `tailscale:<login>`
//   X-Facteur-Actor: <person>   → only for tokens with actFor                 → `<person> via token:<name>`
//
// Roles: viewer reads; operator pauses, resumes, cancels, retries; approver votes; admin
// changes policy packs and repository policies. Every role implies viewer (whoever may act on
// something may see it); no other role implies another: an admin who should also vote is
// given approver too. No credential and an unknown one get the same 401, so an answer never
// tells which tokens exist; a known caller without the role gets a 403 naming the role.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config, Role } from '../config/index.js';
import { ROLES } from '../config/index.js';
import { teamsOf } from '../config/api-identity.js';
import { ForbiddenError, UnauthorizedError, ValidationError } from '../errors/index.js';
import type { HttpRequest } from '../http/index.js';

export interface Principal {
  /** How the identity was verified. */
  readonly via: 'token' | 'tailscale' | 'open';
  /** The person (or the token, when it names none): who a vote is counted for. */
  readonly name: string;
  readonly roles: readonly Role[];
  /** Teams are not known from tokens or Tailscale; reserved for an identity source that has them. */
  readonly teams?: readonly string[];
  /** How the audit log attributes what this caller does. */
  readonly actor: string;
}

/** What a route needs: a role, or nothing at all (the index, the probe). */
export type Access = Role | 'public';

export interface Identifier {
  /** The verified caller; throws UnauthorizedError (401), ForbiddenError (403) or ValidationError (400). */
  identify(req: HttpRequest): Principal;
  /** How callers authenticate, for the index: `open`, `bearer token`, `bearer token, tailscale`. */
  readonly mode: string;
}

/** Every role implies viewer; the others are granted only by name. */
export function hasRole(roles: readonly Role[], needed: Role): boolean {
  return needed === 'viewer' ? roles.length > 0 : roles.includes(needed);
}

/** Throws ForbiddenError naming the role when the principal lacks it. */
export function authorize(p: Principal, access: Access): void {
  if (access === 'public' || hasRole(p.roles, access)) return;
  const has = p.roles.length ? `has ${p.roles.join(', ')}` : 'has no role';
  throw new ForbiddenError(`this needs the ${access} role; ${p.actor} ${has}`, 'missing_role');
}

/** sha256 of a token as FACTEUR_API_TOKENS holds it: `node -e "…"` in the README prints the same. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const PERSON = /^[A-Za-z0-9][A-Za-z0-9@._:+-]{0,99}$/;
// what `tailscale serve` sends: an email-like login (`alice@example.com`, `alice@github`)
const LOGIN = /^[A-Za-z0-9._%+@-]{1,200}$/;

interface Known {
  readonly name: string;
  readonly hash: Buffer;
  readonly roles: readonly Role[];
  readonly actFor: boolean;
}

export function createIdentifier(config: Pick<Config, 'statusToken' | 'api'>): Identifier {
  const known: Known[] = config.api.tokens.map((t) => ({ name: t.name, hash: Buffer.from(t.sha256, 'hex'), roles: t.roles, actFor: t.actFor }));
  if (config.statusToken) known.push({ name: 'status', hash: Buffer.from(tokenHash(config.statusToken.reveal()), 'hex'), roles: [...ROLES], actFor: true });
  const tailscale = config.api.tailscaleIdentity;
  const open = known.length === 0 && !tailscale;
  const unknown = () => new UnauthorizedError('a valid credential is required (Authorization: Bearer <token>)', 'unauthorized');

  /** Compares against every known hash, without stopping at the first match. */
  const byToken = (token: string): Known | undefined => {
    const h = createHash('sha256').update(token, 'utf8').digest();
    let found: Known | undefined;
    for (const k of known) if (timingSafeEqual(h, k.hash) && !found) found = k;
    return found;
  };

  const personOf = (req: HttpRequest): string | undefined => {
    const raw = (req.headers['x-facteur-actor'] ?? '').trim();
    return raw === '' ? undefined : raw;
  };
  const checkedPerson = (person: string): string => {
    if (!PERSON.test(person)) {
      throw new ValidationError('X-Facteur-Actor is not a person\'s name', [{ path: 'headers.x-facteur-actor', message: 'must be 1–100 of A-Z a-z 0-9 @ . _ : + - (starting with a letter or digit)' }], 'invalid_actor');
    }
    return person;
  };

  // the teams approvals may name, by the person's name, whichever way they came
  const withTeams = (p: Principal): Principal => {
    const teams = teamsOf(config.api.teams ?? {}, p.name);
    return teams.length ? { ...p, teams } : p;
  };

  return {
    mode: open ? 'open' : [known.length ? 'bearer token' : '', tailscale ? 'tailscale' : ''].filter(Boolean).join(', '),
    identify: (req) => withTeams(identify(req)),
  };

  function identify(req: HttpRequest): Principal {
    const person = personOf(req);
    if (open) {
      // local mode: nobody is verified, a named person is only a label (and what a vote counts)
      const who = person === undefined ? undefined : checkedPerson(person);
      return { via: 'open', name: who ?? 'open', roles: [...ROLES], actor: who ? `${who} via open` : 'open' };
    }
    const header = req.headers['authorization'];
    if (header !== undefined) {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
      const k = bearer === undefined ? undefined : byToken(bearer);
      if (!k) throw unknown();
      if (person === undefined) return { via: 'token', name: `token:${k.name}`, roles: k.roles, actor: `token:${k.name}` };
      if (!k.actFor) throw new ForbiddenError(`token:${k.name} may not act for another person (X-Facteur-Actor): its entry in FACTEUR_API_TOKENS lacks "actFor": true`, 'act_for_refused');
      const who = checkedPerson(person);
      return { via: 'token', name: who, roles: k.roles, actor: `${who} via token:${k.name}` };
    }
    const login = tailscale ? req.headers['tailscale-user-login'] : undefined;
    if (login === undefined) throw unknown();
    if (!LOGIN.test(login)) throw new UnauthorizedError('the Tailscale-User-Login header is not a login', 'unauthorized');
    if (person !== undefined) throw new ForbiddenError(`tailscale:${login} is a person: X-Facteur-Actor may only be sent with a token allowed to act for others`, 'act_for_refused');
    const roles = Object.hasOwn(config.api.tailscaleRoles, login) ? config.api.tailscaleRoles[login]! : [];
    return { via: 'tailscale', name: login, roles, actor: `tailscale:${login}` };
  }
}
