// Local mode's `/`: where a newcomer lands after `npm start`. A small server-rendered page
// (JSON for `Accept: application/json`) saying what is mounted, what can be read and where
// the data lives, with links. Every value is escaped: the data dir is a user's path.
import type { HttpResponse } from '../http/index.js';
import { STATUS_ROUTES } from '../status/routes.js';
import { prefersHtml } from '../dashboard/html.js';

export interface HomeInfo {
  readonly url: string;
  readonly functions: readonly string[];
  readonly database: string;
  readonly dataDir: string;
  readonly pid: number;
  /** How the status API's callers authenticate: `open`, `bearer token`, `bearer token, tailscale`. */
  readonly statusAuth: string;
  readonly intakeToken: boolean;
  /** Local mode's sample repository: its name in Idea Specs and the bare repository's path. */
  readonly sampleRepository?: { readonly name: string; readonly path: string };
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);

/** Where a browser lands: the status function's dashboard, mounted at /status. */
export const DASHBOARD_PATH = '/status/ui/ideas';

/**
 * `/`: a browser (text/html first) is sent to the dashboard; anything else (curl's `*\/*`,
 * application/json) gets this page as JSON. `/home` is the same page as HTML.
 */
export function rootPage(info: HomeInfo, accept: string | undefined): HttpResponse {
  if (prefersHtml(accept)) return { status: 303, headers: { location: DASHBOARD_PATH }, body: '' };
  return homePage(info, 'application/json');
}

export function homePage(info: HomeInfo, accept: string | undefined): HttpResponse {
  const status = STATUS_ROUTES.map((r) => ({ ...r, path: `/status${r.path}` }));
  if (!prefersHtml(accept)) {
    return {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: {
        ok: true,
        service: 'facteur local mode',
        url: info.url,
        dashboard: `${info.url}${DASHBOARD_PATH}`,
        functions: info.functions.map((n) => `/${n}`),
        status,
        database: info.database,
        dataDir: info.dataDir,
        pid: info.pid,
        auth: { status: info.statusAuth, intake: info.intakeToken ? 'bearer token' : 'open' },
        ...(info.sampleRepository ? { sampleRepository: info.sampleRepository } : {}),
      },
    };
  }
  const e = escapeHtml;
  const link = (path: string, method: string) => (method === 'GET' && !path.includes('{') ? `<a href="${e(path)}">${e(path)}</a>` : e(path));
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Facteur (local mode)</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}code,td{font-family:ui-monospace,monospace;font-size:13px}td{padding:.1rem .8rem .1rem 0;vertical-align:top}</style>
</head><body>
<h1>Facteur — local mode</h1>
<p><a href="${e(DASHBOARD_PATH)}">Open the dashboard</a> (<code>${e(info.url + DASHBOARD_PATH)}</code>).</p>
<p>Serving on <code>${e(info.url)}</code> (pid ${info.pid}). Database: ${e(info.database)}. Data dir: <code>${e(info.dataDir)}</code>.</p>
${info.sampleRepository ? `<p>Ideas for <code>${e(info.sampleRepository.name)}</code> work on the sample repository <code>${e(info.sampleRepository.path)}</code>: <code>git -C ${e(info.sampleRepository.path)} log --oneline main</code>.</p>` : ''}
<h2>Functions</h2>
<ul>${info.functions.map((n) => `<li><code>/${e(n)}</code> — <a href="/${e(n)}/healthz">/${e(n)}/healthz</a></li>`).join('')}</ul>
<h2>Status API</h2>
<p>${info.statusAuth === 'open' ? 'Open: no <code>FACTEUR_STATUS_TOKEN</code>, <code>FACTEUR_API_TOKENS</code> or Tailscale identity is configured, so every caller has every role.' : `Callers authenticate by ${e(info.statusAuth)}; each route needs the role shown (every role implies viewer).`}</p>
<table><tr><th>method</th><th>path</th><th>role</th><th>what</th></tr>${status.map((r) => `<tr><td>${e(r.method)}</td><td>${link(r.path, r.method)}</td><td>${e(r.role)}</td><td>${e(r.description)}</td></tr>`).join('')}</table>
<h2>Try it</h2>
<p><code>npm run demo</code> posts an Idea Spec to <code>/intake</code>${info.intakeToken ? ' (with <code>FACTEUR_INTAKE_TOKEN</code>)' : ''} and follows it to the end.</p>
</body></html>
`;
  return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: html };
}
