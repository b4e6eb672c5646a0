// Links out of the dashboard: a Workflow to the Argo UI (ARGO_UI_URL), a trace id to the
// tracing UI (FACTEUR_TRACE_URL, `{traceId}` replaced). Both optional: without them the
// name and the id are shown as text.
import { h, type Html } from './html.js';

export interface Links {
  readonly argoUiUrl: string | undefined;
  readonly traceUrl: string | undefined;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`); undefined when it is not one. */
export function traceIdOf(traceparent: string | null | undefined): string | undefined {
  const m = TRACEPARENT.exec(traceparent ?? '');
  return m && !/^0+$/.test(m[1]!) ? m[1] : undefined;
}

export function traceLink(links: Links, traceId: string): Html {
  if (!links.traceUrl || !/^[0-9a-f]{32}$/.test(traceId)) return h`<code class="trace">${traceId}</code>`;
  return h`<a class="trace" href="${links.traceUrl.replace('{traceId}', traceId)}" rel="noreferrer"><code>${traceId}</code></a>`;
}

export function workflowLink(links: Links, namespace: string | null | undefined, name: string | null | undefined): Html {
  if (!name) return h`<span class="muted">not submitted</span>`;
  if (!links.argoUiUrl || !namespace) return h`<code>${name}</code>`;
  return h`<a href="${`${links.argoUiUrl}/workflows/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`}" rel="noreferrer"><code>${name}</code></a>`;
}
