// From the drafts markdown.ts read to a plan-shaped value: keys derived, references
// resolved, defaults filled, each guess noted with the line it came from.
import { levelOf, plain, quote, sameTitle, slugify, type DependencyRef, type FieldName } from './markdown-syntax.js';
import type { Level } from './schema.js';

export interface TaskDraft {
  line: number;
  /** From `3.` or `### Task 3:`; `#3` refers to it (or to the third task when unnumbered). */
  number?: number;
  title: string;
  key?: { value: string; line: number };
  fromHeading: boolean;
  description: string[];
  deps: { ref: DependencyRef; line: number }[];
  criteria: string[];
  paths: string[];
  risk?: { value: string; line: number };
  milestone?: { value: string; line: number };
  /** The field header the next list items belong to (`Acceptance:` then `- …`). */
  mode?: { name: FieldName; indent: number; wasItem: boolean };
  /** Where checklist items under the task were first taken as acceptance criteria. */
  subChecksLine?: number;
}

export interface RiskDraft {
  line: number;
  parts: string[];
  /** A table row, by lowercased column header. */
  cells?: Record<string, string>;
}

export interface MilestoneDraft {
  line: number;
  id?: string;
  number?: number;
  title: string;
}

export interface Drafts {
  tasks: TaskDraft[];
  milestones: MilestoneDraft[];
  risks: RiskDraft[];
  criteria: string[];
  questions: string[];
}

export type Notes = { line: number; text: string }[];

export function buildPlan(drafts: Drafts, notes: Notes): { plan: unknown; decisions: string[] } {
  const note = (line: number, text: string) => void notes.push({ line, text });

  const milestoneTaken = new Set(drafts.milestones.flatMap((m) => (m.id ? [m.id] : [])));
  const milestones = drafts.milestones.map((m, i) => {
    if (m.id) return { id: m.id, title: m.title };
    const id = unique(`M${m.number ?? i + 1}`, milestoneTaken);
    note(m.line, `milestone ${quote(m.title)} → id "${id}" (generated)`);
    return { id, title: m.title };
  });

  // Explicit keys first, so a derived key never takes one a later task asked for.
  const taken = new Set(drafts.tasks.flatMap((t) => (t.key ? [t.key.value] : [])));
  const keys = drafts.tasks.map((t) => {
    if (t.key) return t.key.value;
    const base = slugify(t.title);
    const key = unique(base, taken);
    const why = key === base ? '' : `; "${base}" was taken`;
    note(t.line, `task ${quote(t.title)} → key "${key}" (derived from the title${why})`);
    return key;
  });
  const byNumber = new Map<number, number>();
  drafts.tasks.forEach((t, i) => {
    const n = t.number ?? i + 1;
    if (!byNumber.has(n)) byNumber.set(n, i);
  });

  const resolve = (ref: string): { key: string; how?: string } | undefined => {
    const num = /^(?:(task|step)\s*)?(#)?(\d+)$/i.exec(ref);
    const byNum = num ? byNumber.get(Number(num[3])) : undefined;
    if (num && (num[1] || num[2]) && byNum !== undefined) return { key: keys[byNum]!, how: 'number' };
    if (keys.includes(ref)) return { key: ref };
    if (byNum !== undefined) return { key: keys[byNum]!, how: 'number' };
    const byTitle = drafts.tasks.findIndex((t) => sameTitle(t.title, ref));
    if (byTitle >= 0) return { key: keys[byTitle]!, how: 'title' };
    const bySlug = keys.indexOf(slugify(plain(ref)));
    return bySlug >= 0 ? { key: keys[bySlug]!, how: 'title' } : undefined;
  };

  const tasks = drafts.tasks.map((t, i) => {
    const key = keys[i]!;
    let title = t.title;
    if (!title) {
      title = key;
      note(t.line, `task "${key}" has no title; its key is used`);
    }
    const dependsOn = t.deps.map(({ ref, line }) => {
      const r = resolve(ref.ref);
      if (!r) note(line, `"${key}" depends on ${quote(ref.ref)}: no task matches; kept as written`);
      else if (r.how) note(line, `"${key}" depends on ${quote(ref.ref)} → "${r.key}" (resolved by ${r.how})`);
      return { key: r?.key ?? ref.ref, type: ref.type, ...(ref.artifact !== undefined ? { artifact: ref.artifact } : {}) };
    });
    if (t.subChecksLine !== undefined) note(t.subChecksLine, `"${key}": checklist items under the task taken as acceptance criteria`);
    const risk = level(t.risk?.value, 'low', (text) => note(t.risk?.line ?? t.line, `"${key}" ${text}`), 'risk');
    const milestone = t.milestone && resolveMilestone(t.milestone.value, milestones, drafts.milestones, (how, id) =>
      note(t.milestone!.line, `"${key}" milestone ${quote(t.milestone!.value)} → "${id}" (resolved by ${how})`),
    );
    return {
      key,
      title,
      description: t.description.join('\n').trim(),
      dependsOn,
      acceptanceCriteria: t.criteria,
      paths: [...new Set(t.paths)],
      risk,
      ...(milestone ? { milestone } : {}),
    };
  });

  const fields = drafts.risks.map((r) => (r.cells ? riskFromCells(r.cells) : riskFromText(r.parts.join('\n'))));
  const riskTaken = new Set(fields.flatMap((f) => (f.id ? [f.id] : [])));
  const risks = fields.map((f, i) => {
    const line = drafts.risks[i]!.line;
    let id = f.id;
    if (!id) {
      id = unique(`R${i + 1}`, riskTaken);
      note(line, `risk ${quote(f.description ?? '')} → id "${id}" (generated)`);
    }
    const say = (text: string) => note(line, `risk "${id}" ${text}`);
    const likelihood = level(f.likelihood, 'medium', say, 'likelihood');
    const impact = level(f.impact, 'medium', say, 'impact');
    if (!f.mitigation) say('states no mitigation');
    return { id, description: f.description ?? '', likelihood, impact, ...(f.mitigation ? { mitigation: f.mitigation } : {}) };
  });

  const decisions = notes
    .map((n, seq) => ({ ...n, seq }))
    .sort((a, b) => a.line - b.line || a.seq - b.seq)
    .map((n) => `line ${n.line}: ${n.text}`);
  return {
    plan: { milestones, tasks, acceptanceCriteria: drafts.criteria, risks, openQuestions: drafts.questions },
    decisions,
  };
}

/** `base`, else `base-2`, `base-3`…: the first free one, which is then taken. */
function unique(base: string, taken: Set<string>): string {
  let candidate = base;
  for (let n = 2; taken.has(candidate); n++) candidate = `${base}-${n}`;
  taken.add(candidate);
  return candidate;
}

function level(value: string | undefined, fallback: Level, say: (text: string) => void, what: string): Level {
  if (value === undefined || value.trim() === '') {
    say(`states no ${what} → ${fallback} (default)`);
    return fallback;
  }
  const found = levelOf(value);
  if (!found) say(`${what} ${quote(value)} is not low, medium or high → ${fallback} (default)`);
  else if (!new RegExp(`^[*_\`]*${found}\\b`, 'i').test(value.trim())) say(`${what} ${quote(value)} read as ${found}`);
  return found ?? fallback;
}

function resolveMilestone(
  ref: string,
  milestones: readonly { id: string; title: string }[],
  drafts: readonly MilestoneDraft[],
  say: (how: string, id: string) => void,
): string {
  if (milestones.some((m) => m.id === ref)) return ref;
  const byId = milestones.find((m) => m.id.toLowerCase() === ref.toLowerCase());
  if (byId) return say('id', byId.id), byId.id;
  const byTitle = milestones.find((m) => sameTitle(m.title, ref));
  if (byTitle) return say('title', byTitle.id), byTitle.id;
  const n = /^(?:(?:milestone|phase)\s*)?#?(\d+)$/i.exec(ref)?.[1];
  const i = n === undefined ? -1 : drafts.findIndex((d, j) => (d.number ?? j + 1) === Number(n));
  const byNumber = milestones[i];
  if (byNumber) return say('number', byNumber.id), byNumber.id;
  return ref;
}

interface RiskFields {
  id?: string;
  description?: string;
  likelihood?: string;
  impact?: string;
  mitigation?: string;
}

const RISK_FIELD = /\b(likelihood|probability|chance|impact|severity|mitigations?|mitigate)\s*[:=]\s*/gi;

/** `R1: Data loss (likelihood: low, impact: high) — mitigation: back up first`, possibly over several lines. */
function riskFromText(text: string): RiskFields {
  const found = [...text.matchAll(RISK_FIELD)];
  const out: RiskFields = {};
  found.forEach((m, i) => {
    const name = m[1]!.toLowerCase();
    const field = /^(likelihood|probability|chance)$/.test(name) ? 'likelihood' : /^(impact|severity)$/.test(name) ? 'impact' : 'mitigation';
    out[field] ??= tidy(text.slice(m.index + m[0].length, found[i + 1]?.index ?? text.length));
  });
  const head = tidy(text.slice(0, found[0]?.index ?? text.length));
  const id = /^`?([A-Za-z]{1,8}[-_.]?\d+)`?\s*(?:[:.)]|\s[-–—])\s*(.*)$/.exec(head);
  if (id) out.id = id[1]!;
  const description = id ? id[2]! : head;
  if (description) out.description = description;
  return out;
}

function riskFromCells(cells: Record<string, string>): RiskFields {
  const out: RiskFields = {};
  for (const [name, value] of Object.entries(cells)) {
    const field = /^(?:id|#|no\.?)$/.test(name)
      ? 'id'
      : /likelihood|probability|chance/.test(name)
        ? 'likelihood'
        : /impact|severity/.test(name)
          ? 'impact'
          : /mitigation|response/.test(name)
            ? 'mitigation'
            : /risk|description|issue|threat/.test(name)
              ? 'description'
              : undefined;
    if (field && value && out[field] === undefined) out[field] = value.replace(/`/g, '');
  }
  return out;
}

/** One line of text, without the separators the fields were cut on. */
function tidy(s: string): string {
  let t = plain(s).replace(/\s+/g, ' ').replace(/^[\s(,;:—–-]+|[\s(,;:—–-]+$/g, '');
  if (t.endsWith(')') && !t.includes('(')) t = t.replace(/\)+$/, '').replace(/[\s,;:—–-]+$/, '');
  return t;
}
