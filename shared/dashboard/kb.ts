// The knowledge base's page: its health (shared/kb/health.ts, the same figures as
// `GET /v1/kb/health` and `/metrics`) as facts and small SVG charts, and the run page's
// "Retrieved context" section: what one run was given (kb_retrievals), every candidate with
// its scores, which were injected, under which embedding version.
import type { Queryable, Sql } from '../db/index.js';
import { NotFoundError, ValidationError } from '../errors/index.js';
import { runContext } from '../kb/retrieve-api.js';
import { kbHealth, type KbHealth } from '../kb/health.js';
import { chart } from './charts.js';
import { badge, h, time, type Html } from './html.js';

export const KB_PAGE_WINDOW_S = 24 * 3600;

export async function loadKb(sql: Queryable, windowS = KB_PAGE_WINDOW_S): Promise<KbHealth> {
  return kbHealth(sql, windowS);
}

const pct = (n: number | null) => (n === null ? '—' : `${(n * 100).toFixed(1)}%`);
const ms = (n: number | null) => (n === null ? '—' : `${n.toFixed(n >= 100 ? 0 : 1)} ms`);

export function renderKb(k: KbHealth): Html {
  const hours = Math.round(k.window.seconds / 3600);
  const maxBucket = Math.max(1, ...k.usefulness.buckets.map((b) => b.count));
  return h`<h1>Knowledge base</h1>
<p class="muted">Reflections, their vectors and what retrieval did in the last ${hours} hours. The same figures as <code>GET /v1/kb/health</code> and <code>/metrics</code> (facteur_kb_*).</p>
<table class="facts kb-facts"><tbody>
<tr><th>active version</th><td>${k.activeVersion ? h`<code>${k.activeVersion.version}</code> <span class="muted">${k.activeVersion.provider} · ${k.activeVersion.model} · ${k.activeVersion.dimensions} dims</span>` : h`<span class="muted">none yet</span>`}</td>
<th>reflections</th><td>${k.reflections.live} live · ${k.reflections.superseded} superseded · ${Object.entries(k.reflections.bySource).map(([s, n]) => `${s} ${n}`).join(', ') || 'none'}</td></tr>
<tr><th>embedding backlog</th><td>${k.backlog.unembedded} reflection(s) without a vector of the active version · ${k.backlog.runs} run(s) to reflect on${k.backlog.failing ? ` (${k.backlog.failing} failing)` : ''}</td>
<th>retrievals</th><td>${k.retrievals.count} · hit rate ${pct(k.retrievals.hitRate)}${k.retrievals.degraded ? ` · ${k.retrievals.degraded} degraded` : ''}</td></tr>
<tr><th>latency</th><td>p50 ${ms(k.retrievals.latencyMs.p50)} · p99 ${ms(k.retrievals.latencyMs.p99)}</td>
<th>reuse rate</th><td>${pct(k.reuse.rate)} <span class="muted">(${k.reuse.injectedOnce} of ${k.reuse.live} live lessons injected at least once)</span></td></tr>
</tbody></table>
<div class="grid">
${chart('retrievals per day', k.daily.map((d) => ({ day: d.day, value: d.retrievals })), 'bar', (n) => n.toFixed(0))}
${chart('hit rate', k.daily.map((d) => ({ day: d.day, value: d.hitRate })), 'line', (n) => `${(n * 100).toFixed(0)}%`)}
${chart('retrieval p99', k.daily.map((d) => ({ day: d.day, value: d.p99Ms })), 'line', (n) => `${n.toFixed(1)}ms`)}
</div>
<h2>Vectors per version</h2>
${k.versions.length ? h`<table class="kb-versions"><thead><tr><th>version</th><th>state</th><th>vectors</th><th>by source</th></tr></thead><tbody>
${k.versions.map((v) => h`<tr><td><code>${v.version}</code>${v.active ? h` ${badge('active')}` : ''}</td><td>${v.state}</td><td>${v.vectors}</td><td>${k.reflections.byVersion.filter((x) => x.version === v.version).map((x) => `${x.source} ${x.count}`).join(', ')}</td></tr>`)}
</tbody></table>` : h`<p class="muted">No embedding version registered.</p>`}
<h2>Usefulness</h2>
<table class="kb-usefulness"><thead><tr><th>usefulness</th><th>lessons</th><th></th></tr></thead><tbody>
${k.usefulness.buckets.map((b) => h`<tr><td>${b.label}</td><td>${b.count}</td><td><meter min="0" max="${maxBucket}" value="${b.count}"></meter></td></tr>`)}
<tr><td class="muted">never injected</td><td>${k.usefulness.neverInjected}</td><td></td></tr>
</tbody></table>
<h2>Re-embedding</h2>
${k.reembedJobs.length ? h`<table class="kb-jobs"><thead><tr><th>to</th><th>from</th><th>state</th><th>progress</th><th>updated</th></tr></thead><tbody>
${k.reembedJobs.map((j) => h`<tr><td><code>${j.toVersion}</code></td><td>${j.fromVersion ?? ''}</td><td>${j.state}</td><td><progress max="${Math.max(1, j.total)}" value="${j.done}"></progress> ${j.done}/${j.total}</td><td>${time(j.updatedAt)}</td></tr>`)}
</tbody></table>` : h`<p class="muted">No re-embedding job running or recent.</p>`}
<h2>Self-checks</h2>
${k.checks.length ? h`<table class="kb-checks"><thead><tr><th>check</th><th>latest</th><th>message</th><th>at</th><th>in window</th></tr></thead><tbody>
${k.checks.map((c) => h`<tr><td><code>${c.key}</code></td><td>${badge(c.result)}</td><td>${c.message}</td><td>${time(c.at)}</td><td>${c.inWindow.pass} pass · ${c.inWindow.fail} fail/warn</td></tr>`)}
</tbody></table>` : h`<p class="muted">No self-check has run yet.</p>`}`;
}

type Obj = Record<string, unknown>;

export type RetrievalView = Awaited<ReturnType<typeof runContext>>;

/** The run's retrieval decision, read as `GET /v1/runs/{id}/context` reads it; undefined when it has none. */
export async function loadRetrieval(sql: Sql, runId: string): Promise<RetrievalView | undefined> {
  try {
    return await runContext(sql, runId);
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof ValidationError) return undefined;
    throw err;
  }
}

/** A candidate's id, whatever the retrieval named it. */
const idOf = (c: Obj) => String(c.id ?? c.reflectionId ?? c.reflection_id ?? '');
/** Its numeric fields: the scores (cosine, text rank, fused, usefulness…). */
const scoresOf = (c: Obj) => Object.entries(c).filter(([, v]) => typeof v === 'number' && Number.isFinite(v)) as [string, number][];
const why = (c: Obj) => String(c.reason ?? (c.injected === true ? 'injected' : ''));

/** The run page's section: "no retrieval" when the run was given none. */
export function renderRetrieval(v: RetrievalView | undefined): Html {
  if (!v) return h`<h2>Retrieved context</h2><p class="muted retrieval-none">No retrieval: this run was given no knowledge-base context.</p>`;
  const injected = new Set(v.injected);
  const candidates = ((Array.isArray(v.candidates) ? v.candidates : []) as unknown[]).filter((c): c is Obj => !!c && typeof c === 'object');
  return h`<h2>Retrieved context</h2>
<p class="retrieval">${v.injected.length} lesson(s) injected of ${candidates.length} candidate(s), ${v.contextBytes} bytes, under <code>${v.embeddingVersion ?? 'no version (full text only)'}</code>${v.latencyMs !== null ? `, ${v.latencyMs.toFixed(1)} ms` : ''}${v.degraded ? h` · ${badge('degraded')} ${v.degraded}` : ''}${v.outcome ? h` · outcome ${v.outcome}` : ''} · ${time(v.decidedAt)}</p>
${v.context ? h`<pre class="retrieved-context">${v.context}</pre>` : h`<p class="muted">The run was given an empty context.</p>`}
<details><summary>query</summary><pre class="json">${v.query.slice(0, 4000)}</pre></details>
${candidates.length ? h`<table class="retrieval-candidates"><thead><tr><th>candidate</th><th>injected</th><th>scores</th><th>why</th></tr></thead><tbody>
${candidates.slice(0, 200).map((c) => h`<tr><td><code>${idOf(c).slice(0, 36)}</code></td><td>${injected.has(idOf(c)) || c.injected === true ? badge('injected') : h`<span class="muted">no</span>`}</td><td>${scoresOf(c).map(([k, n]) => h`<span class="score">${k} ${Number(n.toFixed(4))}</span> `)}</td><td>${why(c)}</td></tr>`)}
</tbody></table>` : h`<p class="muted">No candidate was found.</p>`}`;
}
