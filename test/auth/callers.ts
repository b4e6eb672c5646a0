// The callers the roles tests speak as: every kind of credential the people's APIs know,
// configured the way an operator would (hashes of the tokens, never the tokens).
import { createHash } from 'node:crypto';
import type { Role } from '../../shared/config/index.js';

export const sha = (t: string) => createHash('sha256').update(t).digest('hex');

export const TOKENS = {
  viewer: { token: 'tok-viewer-0123456789', roles: ['viewer'] as Role[], actFor: false },
  operator: { token: 'tok-operator-0123456789', roles: ['operator'] as Role[], actFor: false },
  approver: { token: 'tok-approver-0123456789', roles: ['approver'] as Role[], actFor: false },
  admin: { token: 'tok-admin-0123456789', roles: ['admin'] as Role[], actFor: false },
  nobody: { token: 'tok-nobody-0123456789', roles: [] as Role[], actFor: false },
  'chat-bot': { token: 'tok-chat-bot-0123456789', roles: ['operator', 'approver'] as Role[], actFor: true },
};
export const STATUS_TOKEN = 'the-old-status-token';

export const ENV = {
  FACTEUR_STATUS_TOKEN: STATUS_TOKEN,
  FACTEUR_API_TOKENS: JSON.stringify(Object.entries(TOKENS).map(([name, t]) => ({ name, sha256: sha(t.token), roles: t.roles, actFor: t.actFor }))),
  FACTEUR_TAILSCALE_IDENTITY: 'true',
  FACTEUR_TAILSCALE_ROLES: JSON.stringify({ 'alice@example.com': ['approver'], 'root@example.com': ['admin', 'operator', 'approver'] }),
};

/** Who is calling, and what the test expects of them, independently of the product's code. */
export interface Caller {
  readonly name: string;
  readonly headers: Record<string, string>;
  /** undefined: not authenticated (401); otherwise the roles as configured. */
  readonly roles: readonly Role[] | undefined;
  /** Refused whatever the route needs (403): naming a person without actFor. */
  readonly refused?: boolean;
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

export function callers(tailscaleOn: boolean): Caller[] {
  const list: Caller[] = [
    { name: 'no credential', headers: {}, roles: undefined },
    { name: 'unknown token', headers: bearer('not-a-token-we-know'), roles: undefined },
    { name: 'malformed Authorization', headers: { authorization: 'Basic Zm9vOmJhcg==' }, roles: undefined },
    { name: 'FACTEUR_STATUS_TOKEN', headers: bearer(STATUS_TOKEN), roles: ['viewer', 'operator', 'approver', 'admin'] },
    { name: 'status token naming a person', headers: { ...bearer(STATUS_TOKEN), 'x-facteur-actor': 'alice' }, roles: ['viewer', 'operator', 'approver', 'admin'] },
    ...Object.entries(TOKENS).map(([name, t]) => ({ name: `token ${name}`, headers: bearer(t.token), roles: t.roles })),
    { name: 'actFor token naming a person', headers: { ...bearer(TOKENS['chat-bot'].token), 'x-facteur-actor': 'alice' }, roles: TOKENS['chat-bot'].roles },
    { name: 'token without actFor naming a person', headers: { ...bearer(TOKENS.admin.token), 'x-facteur-actor': 'alice' }, roles: TOKENS.admin.roles, refused: true },
  ];
  const ts = (login: string, extra: Record<string, string> = {}) => ({ 'tailscale-user-login': login, ...extra });
  if (tailscaleOn) {
    list.push(
      { name: 'tailscale alice (approver)', headers: ts('alice@example.com'), roles: ['approver'] },
      { name: 'tailscale root (admin, operator, approver)', headers: ts('root@example.com'), roles: ['admin', 'operator', 'approver'] },
      { name: 'tailscale unknown login', headers: ts('mallory@example.com'), roles: [] },
      { name: 'tailscale login "constructor"', headers: ts('constructor'), roles: [] },
      { name: 'tailscale login naming a person', headers: ts('alice@example.com', { 'x-facteur-actor': 'bob' }), roles: ['approver'], refused: true },
      { name: 'tailscale login with a token: the token counts', headers: ts('root@example.com', bearer(TOKENS.viewer.token)), roles: ['viewer'] },
    );
  } else {
    list.push(
      { name: 'tailscale header while off (ignored)', headers: ts('root@example.com'), roles: undefined },
      { name: 'tailscale header while off, with a token', headers: ts('root@example.com', bearer(TOKENS.viewer.token)), roles: ['viewer'] },
    );
  }
  return list;
}

/** The test's own reading of the hierarchy: every role implies viewer, nothing else implies anything. */
export function grants(roles: readonly Role[], needed: Role | 'public'): boolean {
  if (needed === 'public') return true;
  if (needed === 'viewer') return roles.length > 0;
  return roles.includes(needed);
}

/** A concrete path for a route template. */
export function concrete(path: string, id: string): string {
  return path
    .replace(/\{([a-z]+)\|[^}]*\}/g, '$1')
    .replace('{id}', id)
    .replace('{key}', 'default')
    .replace('{version}', '1')
    .replace('{owner}', 'acme')
    .replace('{repo}', 'web');
}
