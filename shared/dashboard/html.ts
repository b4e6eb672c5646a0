// The dashboard's HTML: escaping, the page frame, and the headers every page carries.
// Server-rendered strings, every value escaped where it is interpolated. No inline script or
// style anywhere (the CSP forbids them): behaviour and looks come from /ui/app.js and
// /ui/app.css, colours from classes, so the SVG charts and the DAG are styled by CSS too.
//
// Links are relative and every page lives one level below `/ui/` (`ideas`, `idea?id=…`), so
// the pages work under whatever prefix the status function is mounted at (`/status` in
// local mode, `/` on Knative, a path behind a proxy) without knowing it.
import type { HttpResponse } from '../http/index.js';
import type { Role } from '../config/index.js';
import { ASSET_VERSION } from './assets.js';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Escapes text and attribute values; lone surrogates and NULs become U+FFFD, so the page stays valid UTF-8. */
export const esc = (v: unknown): string =>
  String(v ?? '')
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|\u0000/g, '\uFFFD')
    .replace(/[&<>"']/g, (c) => ENTITIES[c]!);

/** A trusted fragment: built by this module's helpers from escaped parts. */
export interface Html {
  readonly html: string;
}
export const raw = (html: string): Html => ({ html });

/** Tagged template: interpolations are escaped unless they are Html (or arrays of it). */
export function h(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return raw(out);
}

function render(v: unknown): string {
  if (v === undefined || v === null || v === false) return '';
  if (Array.isArray(v)) return v.map(render).join('');
  if (typeof v === 'object' && 'html' in (v as object)) return (v as Html).html;
  return esc(v);
}

/** The Content-Security-Policy of every dashboard answer: scripts and styles from this origin only. */
export const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
});

export interface Viewer {
  /** Who is signed in (or `open`), as the audit log names them. */
  readonly actor: string;
  /** Who a vote counts for (the Principal's name). */
  readonly name: string;
  readonly via: 'token' | 'tailscale' | 'open' | 'session';
  readonly roles: readonly Role[];
  /** The CSRF token every form posts back. */
  readonly csrf: string;
}

export interface Page {
  readonly title: string;
  /** Which nav entry is current. */
  readonly nav: 'ideas' | 'policy' | 'failures' | 'metrics' | 'kb' | 'signin';
  /** What the live stream should wake this page for: an idea id, or `*` for any change. */
  readonly live?: string;
  readonly body: Html;
}

const NAV = [['ideas', 'Ideas'], ['failures', 'Failures'], ['metrics', 'Metrics'], ['kb', 'KB'], ['policy', 'Policy']] as const;

export function layout(page: Page, viewer: Viewer | undefined): string {
  const who = viewer
    ? viewer.via === 'open'
      ? h`<span class="who open" title="no FACTEUR_API_TOKENS, FACTEUR_STATUS_TOKEN or Tailscale identity is configured">open mode: every caller has every role</span>`
      : h`<span class="who">${viewer.actor} <span class="roles">(${viewer.roles.join(', ')})</span></span>${viewer.via === 'session' ? h`<form method="post" action="signout" class="inline"><input type="hidden" name="_csrf" value="${viewer.csrf}"><button class="link">sign out</button></form>` : ''}`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(page.title)} · Facteur</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="app.css?v=${ASSET_VERSION}"><script src="app.js?v=${ASSET_VERSION}" defer></script>
</head><body${page.live ? ` data-live="${esc(page.live)}"` : ''}>
<header><a class="brand" href="ideas">Facteur</a><nav>${NAV.map(([k, label]) => `<a href="${k}"${page.nav === k ? ' aria-current="page"' : ''}>${label}</a>`).join('')}</nav>
<span class="live-dot" id="live" title="live updates">●</span>${render(who)}</header>
<main id="main">${page.body.html}</main>
</body></html>
`;
}

export function htmlPage(status: number, page: Page, viewer: Viewer | undefined, extra: Record<string, string> = {}): HttpResponse {
  return { status, headers: { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS, ...extra }, body: layout(page, viewer) };
}

/** 303 See Other to a path relative to the current page (or absolute, built from a checked prefix). */
export function seeOther(location: string, extra: Record<string, string> = {}): HttpResponse {
  return { status: 303, headers: { location, ...SECURITY_HEADERS, ...extra }, body: '' };
}

/** True when a browser asks: text/html listed before application/json (curl's `*\/*` is not). */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const html = accept.indexOf('text/html');
  const json = accept.indexOf('application/json');
  return html >= 0 && (json < 0 || html < json);
}

// -- small pieces the pages share ------------------------------------------------------------

/** A state as a coloured badge; the class carries the colour (app.css). */
export const badge = (state: string): Html => h`<span class="badge s-${state.replace(/[^a-z_]/g, '')}">${state.replace(/_/g, ' ')}</span>`;

export const time = (iso: string | null | undefined): Html => (iso ? h`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')}</time>` : h`<span class="muted">—</span>`);

export const money = (usd: number): string => `$${usd.toFixed(usd >= 100 ? 0 : usd >= 1 ? 2 : 4)}`;

export function csrfField(viewer: Viewer): Html {
  return h`<input type="hidden" name="_csrf" value="${viewer.csrf}">`;
}

/** Compact JSON for details blocks, cut at `max` characters. */
export function jsonBlock(value: unknown, max = 4000): Html {
  const text = JSON.stringify(value, null, 2) ?? '';
  return h`<pre class="json">${text.length > max ? text.slice(0, max) + '\n…' : text}</pre>`;
}
