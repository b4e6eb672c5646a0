// The sign-in page: a token field, posted with a CSRF token of its own (login CSRF: a
// foreign page must not sign a browser in as someone else), answered with the session
// cookie (session.ts) and a redirect back to the page the person wanted.
import type { HttpRequest, HttpResponse } from '../http/index.js';
import { h, htmlPage, seeOther, type Viewer } from './html.js';
import type { DashboardDeps } from './routes.js';
import { isHttps } from './session.js';

/** Who signs in: nobody yet, as the CSRF token binds it. */
const ANONYMOUS = 'anonymous';
// a page of this dashboard, relative: never another site, never another path
const NEXT = /^(ideas|idea|run|policy|failures|metrics)(\?[A-Za-z0-9=&%._~+-]{0,500})?$/;

export function signInPage(d: Pick<DashboardDeps, 'sessions' | 'open'>, req: HttpRequest, form?: URLSearchParams): HttpResponse {
  const secure = isHttps(req);
  const { nonce, setCookie } = d.sessions.nonceOf(req, secure);
  const viewer: Viewer = { actor: ANONYMOUS, name: ANONYMOUS, via: 'token', roles: [], csrf: d.sessions.csrfToken(nonce, ANONYMOUS) };
  const rawNext = form?.get('next') ?? req.query.get('next') ?? 'ideas';
  const next = NEXT.test(rawNext) ? rawNext : 'ideas';
  let problem: string | undefined;
  if (form) {
    const token = form.get('token') ?? '';
    const session = token.length > 0 && token.length <= 4096 ? d.sessions.signIn(token, secure) : undefined;
    if (session) return seeOther(next, { 'set-cookie': session.cookie });
    problem = 'This token is not known (or it names no role). Check it and try again.';
  }
  const body = h`<div class="signin card"><h1>Sign in</h1>
${d.open ? h`<p class="notice">The status API runs open (no FACTEUR_API_TOKENS, FACTEUR_STATUS_TOKEN or Tailscale identity): no sign-in is needed. <a href="ideas">Open the dashboard</a>.</p>` : ''}
${problem ? h`<p class="error">${problem}</p>` : ''}
<form method="post" action="signin"><input type="hidden" name="_csrf" value="${viewer.csrf}"><input type="hidden" name="next" value="${next}">
<label for="token">API token (one of FACTEUR_API_TOKENS, or FACTEUR_STATUS_TOKEN)</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button class="primary" type="submit">Sign in</button></form>
<p class="muted">The token is checked once; the browser keeps a signed session cookie (HttpOnly, SameSite=Strict), never the token. Behind <code>tailscale serve</code> with FACTEUR_TAILSCALE_IDENTITY your tailnet login signs you in without a token.</p></div>`;
  return htmlPage(problem ? 401 : 200, { title: 'Sign in', nav: 'signin', body }, undefined, setCookie ? { 'set-cookie': setCookie } : {});
}
