// The run page: one attempt of a task — its Workflow (linked to the Argo UI), its trace,
// its events, and its artifacts read the way a person reads them: the test report as a
// table of checks, the diff stats as files with their line counts, the plan as its tasks;
// any other kind as JSON. Artifacts are what facteur-agent reported: read defensively.
import type { Queryable } from '../db/index.js';
import { getRun } from '../status/index.js';
import { badge, h, jsonBlock, money, time, type Html } from './html.js';
import { eventsTable } from './idea.js';
import { renderRetrieval, type RetrievalView } from './kb.js';
import { traceIdOf, traceLink, workflowLink, type Links } from './links.js';

type Obj = Record<string, any>;

export interface RunView {
  readonly run: Obj;
  readonly traceContext: string | null;
  readonly ideaTitle: string;
}

export async function loadRun(sql: Queryable, id: string): Promise<RunView | undefined> {
  const run = await getRun(sql, id);
  if (!run) return undefined;
  const [row] = await sql<{ trace_context: string | null; title: string }[]>`
    select r.trace_context, i.title from codex_kb.task_runs r join codex_kb.ideas i on i.id = r.idea_id where r.id = ${id}`;
  return { run, traceContext: row?.trace_context ?? null, ideaTitle: row?.title ?? '' };
}

const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v.filter((x) => x && typeof x === 'object') as Obj[]) : []);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function renderRun(v: RunView, links: Links, retrieval?: RetrievalView): Html {
  const r = v.run;
  const traceId = (r.traceId as string | undefined) ?? traceIdOf(v.traceContext);
  const artifacts = arr(r.artifacts);
  return h`<p><a href="idea?id=${r.ideaId}">« ${v.ideaTitle}</a></p>
<h1>${r.taskKey} · attempt ${r.attempt} ${badge(r.status)}</h1>
<table class="facts"><tbody>
<tr><th>stage</th><td>${r.stage}</td><th>workflow</th><td>${workflowLink(links, r.namespace, r.workflowName)}</td></tr>
<tr><th>trace</th><td>${traceId ? traceLink(links, traceId) : h`<span class="muted">none recorded</span>`}</td><th>cost</th><td>${money(Number(r.costUsd) || 0)} ${r.usage && Object.keys(r.usage).length ? h`<code>${JSON.stringify(r.usage)}</code>` : ''}</td></tr>
<tr><th>queued</th><td>${time(r.queuedAt)}</td><th>started</th><td>${time(r.startedAt)}</td></tr>
<tr><th>ended</th><td>${time(r.completedAt)}</td><th>last heartbeat</th><td>${time(r.lastHeartbeatAt)}</td></tr>
</tbody></table>
${r.errorCode ? h`<p class="error"><b>${r.errorCode}</b>: ${r.errorMessage ?? ''}</p>` : ''}
${renderRetrieval(retrieval)}
<h2>Artifacts</h2>
${artifacts.length ? artifacts.map(artifact) : h`<p class="muted">None reported.</p>`}
<h2>Events</h2>
${eventsTable(arr(r.events))}`;
}

function artifact(a: Obj): Html {
  const body = a.kind === 'test-report' ? testReport(a.data) : a.kind === 'diff-stats' ? diffStats(a.data) : a.kind === 'plan' ? plan(a.data) : undefined;
  return h`<section class="card artifact" data-kind="${a.kind}"><b>${a.kind}</b> <span class="muted">${time(a.createdAt)}</span>${body ?? h``}<details${body ? '' : h` open`}><summary>raw</summary>${jsonBlock(a.data)}</details></section>`;
}

function testReport(data: unknown): Html | undefined {
  const checks = arr((data as Obj | null)?.checks);
  if (!checks.length) return undefined;
  return h`<p>${(data as Obj).passed === true ? badge('pass') : badge('fail')} ${(data as Obj).toolchain ?? ''}</p>
<table class="test-report"><thead><tr><th>check</th><th>outcome</th><th>passed</th><th>failed</th><th>skipped</th><th>time</th><th>command</th><th>summary</th></tr></thead><tbody>
${checks.map((c) => h`<tr><td>${c.name}</td><td>${badge(c.outcome === 'passed' ? 'pass' : c.outcome === 'failed' ? 'fail' : 'skip')}</td><td>${num(c.passed) ?? ''}</td><td>${num(c.failed) ?? ''}</td><td>${num(c.skipped) ?? ''}</td><td>${num(c.durationMs) !== null ? `${(c.durationMs / 1000).toFixed(1)}s` : ''}</td><td><code>${c.command}</code></td><td>${c.summary}${c.failure?.signature ? h`<br><span class="muted">signature: ${c.failure.signature}</span>` : ''}</td></tr>`)}
</tbody></table>`;
}

function diffStats(data: unknown): Html | undefined {
  const files = arr((data as Obj | null)?.files);
  if (!files.length && num((data as Obj | null)?.added) === null) return undefined;
  const d = data as Obj;
  return h`<p><b class="plus">+${num(d.added) ?? 0}</b> <b class="minus">−${num(d.removed) ?? 0}</b> in ${files.length} file(s)${d.base ? h` · <code>${String(d.base).slice(0, 10)}..${String(d.head ?? '').slice(0, 10)}</code>` : ''}</p>
<table class="diff-stats"><thead><tr><th>file</th><th>status</th><th>+</th><th>−</th></tr></thead><tbody>
${files.slice(0, 500).map((f) => h`<tr><td><code>${f.oldPath ? `${f.oldPath} → ` : ''}${f.path}</code></td><td>${f.status}${f.binary ? ' (binary)' : ''}</td><td>${num(f.added) ?? ''}</td><td>${num(f.removed) ?? ''}</td></tr>`)}
</tbody></table>`;
}

function plan(data: unknown): Html | undefined {
  const d = data as Obj | null;
  const tasks = arr(d?.tasks ?? d?.plan?.tasks);
  if (!tasks.length) return undefined;
  return h`<table class="plan"><thead><tr><th>task</th><th>stage</th><th>depends on</th><th>title</th></tr></thead><tbody>
${tasks.slice(0, 500).map((t) => h`<tr><td>${t.key ?? t.id ?? ''}</td><td>${t.stage ?? ''}</td><td>${Array.isArray(t.dependsOn) ? t.dependsOn.map((x: unknown) => (typeof x === 'string' ? x : (x as Obj)?.key ?? '')).join(', ') : ''}</td><td>${t.title ?? ''}</td></tr>`)}
</tbody></table>`;
}
