// The plan as a DAG, laid out and drawn on the server as SVG: layers by longest path from
// the roots (a task sits one column right of its latest dependency), states as fill classes.
// Argo's UI draws every node in the browser and freezes past a few thousand; here a plan
// past COLLAPSE_AT tasks is drawn as one box per (layer, stage) with its state mix, unless
// the reader asks for every node (`&dag=all`). Linear in tasks + edges either way.
import { h, raw, type Html } from './html.js';

export const COLLAPSE_AT = 200;

export interface DagTask {
  readonly key: string;
  readonly stage: string;
  readonly state: string;
  readonly title: string;
  readonly dependsOn: readonly string[];
}

const NODE_W = 168;
const NODE_H = 28;
const COL = 200;
const ROW = 36;
const PAD = 8;

/** Each task's layer: 0 for roots, else one more than its deepest dependency. */
export function layers(tasks: readonly DagTask[]): Map<string, number> {
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  const layer = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (key: string): number => {
    const known = layer.get(key);
    if (known !== undefined) return known;
    const t = byKey.get(key);
    if (!t || visiting.has(key)) return 0; // a dependency outside the plan, or a cycle the validator would refuse
    visiting.add(key);
    let l = 0;
    for (const d of t.dependsOn) if (byKey.has(d)) l = Math.max(l, visit(d) + 1);
    visiting.delete(key);
    layer.set(key, l);
    return l;
  };
  // iterative enough: plan depth is bounded by the plan validator, not by the task count
  for (const t of tasks) visit(t.key);
  return layer;
}

const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s);
const cls = (state: string) => `f-${state.replace(/[^a-z_]/g, '')}`;

function edgePath(x1: number, y1: number, x2: number, y2: number): string {
  const mx = (x1 + x2) / 2;
  return `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
}

export function renderDag(tasks: readonly DagTask[], expand: boolean, ideaId: string): Html {
  if (tasks.length === 0) return h`<p class="muted">No plan yet.</p>`;
  const layer = layers(tasks);
  return tasks.length > COLLAPSE_AT && !expand ? collapsed(tasks, layer, ideaId) : full(tasks, layer);
}

function full(tasks: readonly DagTask[], layer: Map<string, number>): Html {
  const rows: number[] = [];
  const pos = new Map<string, { x: number; y: number }>();
  for (const t of tasks) {
    const l = layer.get(t.key) ?? 0;
    const r = (rows[l] = (rows[l] ?? -1) + 1);
    pos.set(t.key, { x: PAD + l * COL, y: PAD + r * ROW });
  }
  const width = PAD * 2 + (rows.length - 1) * COL + NODE_W;
  const height = PAD * 2 + Math.max(...rows.map((r) => r + 1)) * ROW;
  const parts: string[] = [];
  for (const t of tasks) {
    const to = pos.get(t.key)!;
    for (const d of t.dependsOn) {
      const from = pos.get(d);
      if (from) parts.push(`<path class="edge" d="${edgePath(from.x + NODE_W, from.y + NODE_H / 2, to.x, to.y + NODE_H / 2)}"/>`);
    }
  }
  for (const t of tasks) {
    const p = pos.get(t.key)!;
    parts.push(h`<a href="#task-${t.key}"><g class="task" data-key="${t.key}" data-state="${t.state}"><title>${t.key} · ${t.stage} · ${t.state}: ${t.title}</title><rect class="node ${cls(t.state)}" x="${p.x}" y="${p.y}" width="${NODE_W}" height="${NODE_H}" rx="4"/><text x="${p.x + 6}" y="${p.y + 18}">${cut(t.key, 24)}</text></g></a>`.html);
  }
  return h`<div class="dag"><svg xmlns="http://www.w3.org/2000/svg" class="plan" data-nodes="${tasks.length}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="plan of ${tasks.length} tasks">${raw(parts.join(''))}</svg></div>`;
}

function collapsed(tasks: readonly DagTask[], layer: Map<string, number>, ideaId: string): Html {
  interface Group { key: string; layer: number; stage: string; n: number; states: Map<string, number> }
  const groups = new Map<string, Group>();
  const groupOf = (t: DagTask) => `${layer.get(t.key) ?? 0}|${t.stage}`;
  for (const t of tasks) {
    const k = groupOf(t);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { key: k, layer: layer.get(t.key) ?? 0, stage: t.stage, n: 0, states: new Map() }));
    g.n++;
    g.states.set(t.state, (g.states.get(t.state) ?? 0) + 1);
  }
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  const edges = new Set<string>();
  for (const t of tasks) for (const d of t.dependsOn) { const dt = byKey.get(d); if (dt) edges.add(`${groupOf(dt)}>${groupOf(t)}`); }
  const rows: number[] = [];
  const pos = new Map<string, { x: number; y: number }>();
  for (const g of [...groups.values()].sort((a, b) => a.layer - b.layer || a.stage.localeCompare(b.stage))) {
    const r = (rows[g.layer] = (rows[g.layer] ?? -1) + 1);
    pos.set(g.key, { x: PAD + g.layer * COL, y: PAD + r * (ROW + 14) });
  }
  const width = PAD * 2 + (rows.length - 1) * COL + NODE_W;
  const height = PAD * 2 + Math.max(...rows.map((r) => r + 1)) * (ROW + 14);
  const parts: string[] = [];
  for (const e of edges) {
    const [a, b] = e.split('>');
    const from = pos.get(a!)!;
    const to = pos.get(b!)!;
    parts.push(`<path class="edge" d="${edgePath(from.x + NODE_W, from.y + NODE_H / 2, to.x, to.y + NODE_H / 2)}"/>`);
  }
  for (const g of groups.values()) {
    const p = pos.get(g.key)!;
    let x = p.x;
    const bar: string[] = [];
    for (const [state, n] of [...g.states].sort()) {
      const w = (NODE_W * n) / g.n;
      bar.push(`<rect class="${cls(state)}" x="${x.toFixed(1)}" y="${p.y + NODE_H - 6}" width="${w.toFixed(1)}" height="6"/>`);
      x += w;
    }
    const mix = [...g.states].map(([s, n]) => `${n} ${s}`).join(', ');
    parts.push(h`<g class="group" data-tasks="${g.n}"><title>layer ${g.layer} · ${g.stage}: ${mix}</title><rect class="node f-pending" x="${p.x}" y="${p.y}" width="${NODE_W}" height="${NODE_H}" rx="4"/><text x="${p.x + 6}" y="${p.y + 15}">${g.stage} × ${g.n}</text></g>`.html + bar.join(''));
  }
  return h`<p class="muted">${tasks.length} tasks: drawn as ${groups.size} groups (layer × stage, bars show their states). <a href="idea?id=${ideaId}&amp;dag=all">Draw every task</a> (slower).</p>
<div class="dag"><svg xmlns="http://www.w3.org/2000/svg" class="plan collapsed" data-nodes="${groups.size}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="plan of ${tasks.length} tasks in ${groups.size} groups">${raw(parts.join(''))}</svg></div>`;
}
