// The dashboard's test callers: named API tokens with one role each, and a browserless
// session (a cookie jar over real HTTP) that signs in through the sign-in form like a person.
import { createHash } from 'node:crypto';

export const TOKENS = {
  viewer: 'dash-viewer-token-0123456789',
  operator: 'dash-operator-token-0123456789',
  approver: 'dash-approver-token-0123456789',
  admin: 'dash-admin-token-0123456789',
} as const;
export type Who = keyof typeof TOKENS;

const sha = (t: string) => createHash('sha256').update(t).digest('hex');

/** FACTEUR_API_TOKENS for the four callers (each only its role; admin also operates). */
export const API_TOKENS = JSON.stringify([
  { name: 'vera', sha256: sha(TOKENS.viewer), roles: ['viewer'] },
  { name: 'otto', sha256: sha(TOKENS.operator), roles: ['operator'] },
  { name: 'anna', sha256: sha(TOKENS.approver), roles: ['approver'] },
  { name: 'root', sha256: sha(TOKENS.admin), roles: ['admin', 'operator'] },
]);

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

/** A cookie jar and the dashboard's base URL (`…/ui/`). */
export class Jar {
  readonly cookies = new Map<string, string>();
  constructor(readonly base: string) {}

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(path: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'text/html', ...(this.cookies.size ? { cookie: this.header() } : {}), ...(init.headers ?? {}) };
    let body = init.body;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(this.base + path, { method: init.method ?? (body !== undefined ? 'POST' : 'GET'), headers, redirect: 'manual', ...(body !== undefined ? { body } : {}) });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const [k, v] = [pair!.slice(0, eq), pair!.slice(eq + 1)];
      if (/Max-Age=0/.test(c)) this.cookies.delete(k);
      else this.cookies.set(k, v);
    }
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  /** The CSRF token the page's forms carry. */
  static csrfOf(html: string): string {
    const m = /name="_csrf" value="([^"]+)"/.exec(html);
    if (!m) throw new Error('no CSRF field on the page');
    return m[1]!;
  }

  async signIn(who: Who): Promise<Answer> {
    const page = await this.request('signin');
    return this.request('signin', { form: { _csrf: Jar.csrfOf(page.text), token: TOKENS[who], next: 'ideas' } });
  }
}
