// The idea page: one idea's whole life at a glance — the intent anchor, the plan as a DAG,
// the runs on a timeline, the policy's findings by checkpoint (with what an evaluate-mode
// rule would have blocked), approvals with their votes and the vote buttons for whoever may
// vote, cost per stage against the budget, retrieved context per run, and the events.
// The status API's getIdea is the source, so this page and GET /v1/ideas/{id} cannot disagree.
import type { Queryable } from '../db/index.js';
import { hasRole } from '../auth/principal.js';
import { isEligible, type Eligible } from '../approvals/index.js';
import { getIdea, type IdeaDetail } from '../status/index.js';
import { TERMINAL_IDEA_STATUSES, type IdeaStatus } from '../lifecycle/states.js';
import { renderDag, type DagTask } from './dag.js';
import { badge, csrfField, h, jsonBlock, money, time, type Html, type Viewer } from './html.js';
import { renderTimeline, type TimelineRun, type TimelineTask } from './timeline.js';
import { traceLink, traceIdOf, type Links } from './links.js';

type Obj = Record<string, any>;

export interface IdeaView {
  readonly detail: IdeaDetail;
  readonly facts: { review_cycles: number; monitoring_until: Date | null; deployed_version: string | null; trace_context: string | null };
  readonly approvals: readonly { id: string; required: number; eligible: Eligible; expires_at: Date | null }[];
  readonly votes: readonly { approval_id: string; voter: string; decision: string; reason: string | null; counted: boolean; refused_reason: string | null; created_at: Date }[];
  readonly findings: readonly Obj[];
}

export async function loadIdea(sql: Queryable, id: string): Promise<IdeaView | undefined> {
  // one round: the status API's view and what only this page shows, side by side
  const [detail, [facts], approvals, votes, findings] = await Promise.all([
    getIdea(sql, id),
    sql<IdeaView['facts'][]>`select review_cycles, monitoring_until, deployed_version, trace_context from codex_kb.ideas where id = ${id}`,
    sql<IdeaView['approvals'][number][]>`select id, required, eligible, expires_at from codex_kb.approvals where idea_id = ${id}`,
    sql<IdeaView['votes'][number][]>`
      select v.approval_id, v.voter, v.decision, v.reason, v.counted, v.refused_reason, v.created_at
        from codex_kb.approval_votes v join codex_kb.approvals a on a.id = v.approval_id where a.idea_id = ${id} order by v.id`,
    // evaluate-mode findings too: they are what "would have blocked" is read from
    sql`select checkpoint, policy, rule, result, severity, mode, enforced, would_block, message, suggested_fix, created_at
          from codex_kb.policy_findings where idea_id = ${id} and result not in ('pass', 'skip') order by id desc limit 500`,
  ]);
  if (!detail || !facts) return undefined;
  return { detail, facts, approvals, votes, findings };
}

const ACTIONS_FROM: Record<string, (s: IdeaStatus) => boolean> = {
  pause: (s) => s !== 'paused' && !TERMINAL_IDEA_STATUSES.includes(s),
  resume: (s) => s === 'paused',
  retry: (s) => s === 'blocked',
  cancel: (s) => !TERMINAL_IDEA_STATUSES.includes(s),
};

export function renderIdea(v: IdeaView, viewer: Viewer, links: Links, expandDag: boolean): Html {
  const i = v.detail.idea as Obj;
  const traceId = (i.traceId as string | undefined) ?? traceIdOf(v.facts.trace_context);
  const operator = hasRole(viewer.roles, 'operator');
  const actions = Object.entries(ACTIONS_FROM).filter(([, ok]) => ok(i.status as IdeaStatus)).map(([a]) => a);
  return h`<p><a href="ideas">« ideas</a></p>
<h1>${i.title} ${badge(i.status)}</h1>
<p class="muted">${i.repository} · ${i.priority} · autonomy ${i.autonomyLevel}${(i.labels as string[]).length ? ` · ${(i.labels as string[]).join(', ')}` : ''} · from ${i.sourceType} ${i.sourceRef} · created ${time(i.createdAt)}${traceId ? h` · trace ${traceLink(links, traceId)}` : ''}</p>
${i.statusReason ? h`<p class="notice">${i.statusReason}</p>` : ''}
${operator && actions.length ? h`<form class="actions" method="post" action="action">${csrfField(viewer)}<input type="hidden" name="id" value="${i.id}">${actions.map((a) => h`<button name="action" value="${a}"${a === 'cancel' ? h` class="danger"` : ''}>${a}</button>`)}</form>` : ''}
<h2>Intent</h2>
${i.intentAnchor ? h`<div class="anchor">${i.intentAnchor}</div>` : h`<p class="muted">No intent anchor.</p>`}
${intentDiscipline(i.toolchainHypotheses, i.openQuestions)}
<h2>Plan</h2>
${renderDag(planTasks(v.detail), expandDag, i.id as string)}
<h2>Timeline</h2>
${renderTimeline(v.detail.tasks as unknown as TimelineTask[], v.detail.runs as unknown as TimelineRun[], { reviewCycles: v.facts.review_cycles, monitoringUntil: v.facts.monitoring_until?.toISOString() ?? null, deployedVersion: v.facts.deployed_version })}
${runsTable(v)}
<div class="grid">
<section><h2>Approvals</h2>${approvalsSection(v, viewer)}</section>
<section><h2>Cost</h2>${costSection(v.detail.cost)}</section>
</div>
<h2>Findings</h2>
${findingsSection(v.findings)}
${contextSection(v)}
<details class="events"><summary><b>Events</b> (${v.detail.events.length})</summary>
${eventsTable(v.detail.events as Obj[])}</details>`;
}

function planTasks(d: IdeaDetail): DagTask[] {
  const tasks = d.tasks.map((t: Obj) => ({ key: t.key as string, stage: t.stage as string, state: t.state as string, title: t.title as string, dependsOn: (t.dependsOn as { key: string }[]).map((x) => x.key) }));
  return withLifecycleOrder(tasks);
}

const STAGE_ORDER = ['planning', 'implementation', 'review', 'integration', 'deploy', 'monitoring'];

/**
 * The plan's own edges join implementation tasks; the lifecycle orders the rest (planning
 * first, review after the implementation, integration after review, deploy last), so a task
 * with no edge from an earlier stage is drawn after the last tasks of the stage before it.
 */
export function withLifecycleOrder(tasks: readonly DagTask[]): DagTask[] {
  const byStage = new Map<string, DagTask[]>();
  for (const t of tasks) byStage.set(t.stage, [...(byStage.get(t.stage) ?? []), t]);
  const stageOf = new Map(tasks.map((t) => [t.key, t.stage]));
  // the last tasks of each stage: those no task of the same stage depends on
  const sinks = new Map<string, string[]>();
  for (const [stage, list] of byStage) {
    const needed = new Set(list.flatMap((t) => t.dependsOn.filter((k) => stageOf.get(k) === stage)));
    sinks.set(stage, list.filter((t) => !needed.has(t.key)).map((t) => t.key));
  }
  const before = (stage: string): string[] => {
    for (let i = STAGE_ORDER.indexOf(stage) - 1; i >= 0; i--) {
      const s = sinks.get(STAGE_ORDER[i]!);
      if (s?.length) return s;
    }
    return [];
  };
  return tasks.map((t) => {
    const rank = STAGE_ORDER.indexOf(t.stage);
    const fromEarlier = t.dependsOn.some((k) => STAGE_ORDER.indexOf(stageOf.get(k) ?? '') < rank);
    const sameStage = t.dependsOn.some((k) => stageOf.get(k) === t.stage);
    return rank > 0 && !fromEarlier && !sameStage ? { ...t, dependsOn: [...t.dependsOn, ...before(t.stage)] } : t;
  });
}

const RUNS_LISTED = 100;

function runsTable(v: IdeaView): Html {
  const keyOf = new Map(v.detail.tasks.map((t: Obj) => [t.id as string, t.key as string]));
  const all = v.detail.runs as Obj[];
  if (all.length === 0) return h``;
  // the latest ones: the timeline above draws them all
  const runs = all.slice(-RUNS_LISTED);
  return h`<details${all.length <= 30 ? h` open` : ''}><summary>${all.length} run(s)${all.length > RUNS_LISTED ? `, the latest ${RUNS_LISTED} listed` : ''}</summary><table class="runs"><thead><tr><th>task</th><th>attempt</th><th>state</th><th>workflow</th><th>cost</th><th>started</th><th>ended</th><th>error</th></tr></thead><tbody>
${runs.map((r) => h`<tr id="task-${keyOf.get(r.taskId) ?? ''}"><td>${keyOf.get(r.taskId) ?? ''}</td><td><a href="run?id=${r.id}">#${r.attempt}</a></td><td>${badge(r.status)}</td><td>${r.workflowName ?? ''}</td><td>${money(r.costUsd)}</td><td>${time(r.startedAt)}</td><td>${time(r.completedAt)}</td><td>${r.errorCode ?? ''}</td></tr>`)}
</tbody></table></details>`;
}

function approvalsSection(v: IdeaView, viewer: Viewer): Html {
  const list = v.detail.approvals as Obj[];
  if (list.length === 0) return h`<p class="muted">None asked.</p>`;
  const extra = new Map(v.approvals.map((a) => [a.id, a]));
  return h`${list.map((a) => {
    const x = extra.get(a.id);
    const votes = v.votes.filter((vote) => vote.approval_id === a.id);
    const counted = votes.filter((vote) => vote.counted);
    const mine = votes.some((vote) => vote.counted && vote.voter.toLowerCase() === viewer.name.toLowerCase());
    const may = a.status === 'pending' && hasRole(viewer.roles, 'approver') && !mine && (!x || isEligible({ name: viewer.name, roles: viewer.roles }, x.eligible));
    return h`<div class="card approval" data-approval="${a.id}"><b>${a.checkpoint}</b> ${badge(a.status)} <span class="muted">${counted.filter((c) => c.decision === 'approve').length}/${x?.required ?? 1} approvals${x?.expires_at ? h` · expires ${time(x.expires_at.toISOString())}` : ''}</span>
<p>${a.reason}</p>
${votes.length ? h`<ul>${votes.map((vote) => h`<li>${vote.voter}: ${vote.decision}${vote.counted ? '' : h` <span class="muted">(not counted: ${vote.refused_reason})</span>`}${vote.reason ? h` — ${vote.reason}` : ''}</li>`)}</ul>` : ''}
${may ? h`<form class="actions" method="post" action="vote">${csrfField(viewer)}<input type="hidden" name="approval" value="${a.id}"><input type="hidden" name="idea" value="${v.detail.idea.id as string}"><input name="reason" placeholder="reason (optional)" maxlength="1000"><button name="decision" value="approve" class="primary">Approve</button><button name="decision" value="reject" class="danger">Reject</button></form>` : ''}</div>`;
  })}`;
}

const pct = (spent: number, limit: number | undefined) => (limit ? `w${Math.min(100, Math.round((spent / limit) * 10) * 10)}` : 'w0');

function costSection(c: IdeaDetail['cost']): Html {
  const stages = Object.entries(c.byStage);
  const { limits, spent } = c.budget;
  return h`<table><thead><tr><th>stage</th><th>runs</th><th>cost</th><th>tokens</th></tr></thead><tbody>
${stages.map(([s, x]) => h`<tr><td>${s}</td><td>${x.runs}</td><td>${money(x.usd)}</td><td>${x.tokens.toLocaleString('en')}</td></tr>`)}
<tr><td><b>total</b></td><td></td><td><b>${money(c.usd)}</b></td><td><b>${c.tokens.toLocaleString('en')}</b></td></tr></tbody></table>
<p>Budget: ${limits.maxCostUsd !== undefined ? h`${money(spent.costUsd)} of ${money(limits.maxCostUsd)}<div class="bar-cost"><span class="${pct(spent.costUsd, limits.maxCostUsd)}"></span></div>` : 'no cost limit'}
${limits.maxTokens !== undefined ? h`${spent.tokens.toLocaleString('en')} of ${limits.maxTokens.toLocaleString('en')} tokens<div class="bar-cost"><span class="${pct(spent.tokens, limits.maxTokens)}"></span></div>` : ' · no token limit'}</p>`;
}

function findingsSection(findings: readonly Obj[]): Html {
  if (findings.length === 0) return h`<p class="muted">No finding but passes.</p>`;
  const by = new Map<string, Obj[]>();
  for (const f of findings) by.set(f.checkpoint, [...(by.get(f.checkpoint) ?? []), f]);
  return h`${[...by].map(([checkpoint, list]) => h`<div class="card findings" data-checkpoint="${checkpoint}"><b>${checkpoint}</b> <span class="muted">${list.length} finding(s)${list.some((f) => f.would_block && !f.enforced) ? h` · <span class="badge s-warn">would have blocked</span>` : ''}</span>
<table><thead><tr><th>rule</th><th>result</th><th>mode</th><th>message</th></tr></thead><tbody>
${list.map((f) => h`<tr><td>${f.policy}/${f.rule}</td><td>${badge(f.result)}${f.would_block && !f.enforced ? h` <span class="badge s-warn">would have blocked</span>` : ''}</td><td>${f.mode}${f.enforced ? ' (enforced)' : ''}</td><td>${f.message}${f.suggested_fix ? h`<br><span class="muted">fix: ${f.suggested_fix}</span>` : ''}</td></tr>`)}
</tbody></table></div>`)}`;
}

function contextSection(v: IdeaView): Html {
  const ctx = (v.detail.events as Obj[]).filter((e) => typeof e.type === 'string' && e.type.startsWith('context.') && e.runId);
  if (ctx.length === 0) return h``;
  return h`<h2>Retrieved context</h2>${ctx.map((e) => h`<details class="card"><summary>run <a href="run?id=${e.runId}">${String(e.runId).slice(0, 8)}</a> · ${e.type}</summary>${jsonBlock(e.payload)}</details>`)}`;
}

export function eventsTable(events: readonly Obj[], max = 100): Html {
  if (events.length === 0) return h`<p class="muted">No events.</p>`;
  const shown = events.slice(-max).reverse();
  return h`<table class="events"><thead><tr><th>at</th><th>event</th><th>actor</th><th>details</th></tr></thead><tbody>
${shown.map((e) => h`<tr><td>${time(e.at)}</td><td>${e.type}</td><td>${e.actor}</td><td><code>${JSON.stringify(e.payload ?? {}).slice(0, 200)}</code></td></tr>`)}
</tbody></table>${events.length > max ? h`<p class="muted">The latest ${max} of ${events.length} events.</p>` : ''}`;
}

/** What planning found (toolchain hypotheses) and left open (the plan's open questions), under the anchor. */
function intentDiscipline(hypotheses: unknown, questions: unknown): Html {
  const hs = Array.isArray(hypotheses) ? (hypotheses as { toolchain?: unknown; root?: unknown; confidence?: unknown }[]) : [];
  const qs = Array.isArray(questions) ? questions.filter((q): q is string => typeof q === 'string') : [];
  if (!hs.length && !qs.length) return h``;
  return h`<div class="grid intent-discipline">
${hs.length ? h`<section><b>Toolchain hypotheses</b><ul>${hs.slice(0, 50).map((t) => h`<li><code>${String(t.root ?? '.')}</code> ${String(t.toolchain ?? '?')} <span class="muted">${typeof t.confidence === 'number' ? `confidence ${t.confidence}` : ''}</span></li>`)}</ul></section>` : ''}
${qs.length ? h`<section><b>Open questions</b><ul>${qs.slice(0, 50).map((q) => h`<li>${q}</li>`)}</ul></section>` : ''}
</div>`;
}
