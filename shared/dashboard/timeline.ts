// An idea's runs on one time axis, a row per task (Temporal's history timeline is the
// model): each attempt a bar from its start (or queueing) to its end, coloured by outcome
// and linking to its run page; the deploy's monitoring window as a band after it; the
// review cycles counted in the legend. Server-rendered SVG, like the DAG.
import { h, raw, time, type Html } from './html.js';

export interface TimelineRun {
  readonly id: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly status: string;
  readonly queuedAt: string | null;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
}

export interface TimelineTask {
  readonly id: string;
  readonly key: string;
  readonly stage: string;
}

export interface TimelineFacts {
  readonly reviewCycles: number;
  readonly monitoringUntil: string | null;
  readonly deployedVersion: string | null;
}

const MAX_ROWS = 300;
const LABEL_W = 170;
const PLOT_W = 760;
const ROW_H = 18;

export function renderTimeline(tasks: readonly TimelineTask[], runs: readonly TimelineRun[], facts: TimelineFacts, now = Date.now()): Html {
  if (runs.length === 0) return h`<p class="muted">No run yet.</p>`;
  const t = (iso: string | null) => (iso ? Date.parse(iso) : NaN);
  const startOf = (r: TimelineRun) => (Number.isNaN(t(r.startedAt)) ? t(r.queuedAt) : t(r.startedAt));
  const endOf = (r: TimelineRun) => (Number.isNaN(t(r.completedAt)) ? now : t(r.completedAt));
  const byTask = new Map<string, TimelineRun[]>();
  for (const r of runs) {
    const list = byTask.get(r.taskId) ?? [];
    list.push(r);
    byTask.set(r.taskId, list);
  }
  const rows = tasks.filter((k) => byTask.has(k.id)).sort((a, b) => Math.min(...byTask.get(a.id)!.map(startOf)) - Math.min(...byTask.get(b.id)!.map(startOf)));
  const shown = rows.slice(0, MAX_ROWS);
  const t0 = Math.min(...runs.map(startOf));
  const monitorEnd = t(facts.monitoringUntil);
  const t1 = Math.max(...runs.map(endOf), Number.isNaN(monitorEnd) ? 0 : monitorEnd, t0 + 1000);
  const x = (ms: number) => LABEL_W + ((ms - t0) / (t1 - t0)) * PLOT_W;
  const height = shown.length * ROW_H + 24;
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const ms = t0 + ((t1 - t0) * i) / 4;
    parts.push(`<line class="grid-line" x1="${x(ms).toFixed(1)}" y1="0" x2="${x(ms).toFixed(1)}" y2="${height - 16}"/>`);
    parts.push(h`<text x="${x(ms).toFixed(1)}" y="${height - 4}" text-anchor="middle">+${Math.round((ms - t0) / 1000)}s</text>`.html);
  }
  shown.forEach((task, i) => {
    const y = i * ROW_H + 2;
    parts.push(h`<text x="0" y="${y + 12}">${task.key.length > 24 ? task.key.slice(0, 23) + '…' : task.key}</text>`.html);
    for (const r of byTask.get(task.id)!) {
      const x1 = x(startOf(r));
      const w = Math.max(2, x(endOf(r)) - x1);
      parts.push(h`<a href="run?id=${r.id}"><rect class="f-${r.status}" x="${x1.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${ROW_H - 5}" rx="2"><title>${task.key} attempt ${r.attempt}: ${r.status}</title></rect></a>`.html);
    }
    if (task.stage === 'deploy' && !Number.isNaN(monitorEnd)) {
      const deployEnd = Math.max(...byTask.get(task.id)!.map(endOf));
      if (monitorEnd > deployEnd) parts.push(h`<rect class="f-monitoring area" x="${x(deployEnd).toFixed(1)}" y="${y + 3}" width="${(x(monitorEnd) - x(deployEnd)).toFixed(1)}" height="${ROW_H - 11}"><title>monitoring window until ${facts.monitoringUntil}</title></rect>`.html);
    }
  });
  const attempts = runs.length;
  const retried = [...byTask.values()].filter((l) => l.length > 1).length;
  return h`<p class="muted">${attempts} run(s) over ${rows.length} task(s); ${retried} task(s) retried; ${facts.reviewCycles} review cycle(s)${facts.deployedVersion ? h`; deployed ${facts.deployedVersion}` : ''}${facts.monitoringUntil ? h`; monitoring until ${time(facts.monitoringUntil)}` : ''}.${rows.length > MAX_ROWS ? ` The first ${MAX_ROWS} tasks are drawn.` : ''}</p>
<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="${LABEL_W + PLOT_W + 20}" height="${height}" viewBox="0 0 ${LABEL_W + PLOT_W + 20} ${height}" role="img" aria-label="runs over time">${raw(parts.join(''))}</svg>`;
}
