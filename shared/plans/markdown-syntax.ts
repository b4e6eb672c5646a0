// The line-level grammar of messy Markdown plans: what a heading, a list item, a field line
// (`Depends on: …`, `Risk: high`) or a section name looks like. Pure functions of one line;
// markdown.ts decides what the lines mean together.
import type { DependencyType, Level } from './schema.js';

export interface ListItem {
  readonly kind: 'check' | 'number' | 'bullet';
  readonly number?: number;
  readonly body: string;
}

export function listItem(text: string): ListItem | undefined {
  let m = /^[-*+]\s+\[[ xX]\]\s*(.*)$/.exec(text);
  if (m) return { kind: 'check', body: m[1]!.trim() };
  m = /^(\d{1,4})[.)]\s+(.*)$/.exec(text);
  if (m) return { kind: 'number', number: Number(m[1]), body: m[2]!.trim() };
  m = /^[-*+]\s+(.*)$/.exec(text);
  if (m) return { kind: 'bullet', body: m[1]!.trim() };
  return undefined;
}

export function heading(text: string): { level: number; text: string } | undefined {
  const m = /^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/.exec(text);
  return m ? { level: m[1]!.length, text: m[2]!.trim() } : undefined;
}

export type Section = 'tasks' | 'milestones' | 'risks' | 'acceptance' | 'questions';

const SECTIONS: readonly [Section, RegExp][] = [
  ['tasks', /^(?:the\s+)?(?:tasks?|work\s*items?|(?:implementation\s+)?steps?|implementation(?:\s+plan)?|plan|to-?do(?:\s+list)?|work\s+breakdown|deliverables|backlog)$/],
  ['milestones', /^(?:milestones?|phases?)$/],
  ['risks', /^risks?(?:\s+register|\s+(?:and|&)\s+mitigations?)?$/],
  ['acceptance', /^(?:(?:overall\s+|global\s+)?acceptance(?:\s+criteria)?|definition\s+of\s+done|success\s+criteria)$/],
  ['questions', /^(?:open\s+questions?|questions?|unknowns|unresolved(?:\s+questions)?)$/],
];

export function sectionOf(title: string): Section | undefined {
  const t = plain(title)
    .replace(/^\d+[.)]\s*/, '')
    .replace(/:$/, '')
    .toLowerCase();
  return SECTIONS.find(([, re]) => re.test(t))?.[0];
}

/** A heading that is a task wherever it stands: `Task 3: …`, `Step 2 - …`. */
export function isTaskHeading(title: string): boolean {
  return /^(?:task|step)\s*#?\d+\b/i.test(plain(title));
}

export type FieldName = 'key' | 'depends' | 'acceptance' | 'paths' | 'risk' | 'milestone' | 'description';

const FIELD_NAMES: readonly [FieldName, RegExp][] = [
  ['key', /^(?:key|id)$/],
  ['depends', /^(?:depends\s+on|dependencies|deps|after|requires|blocked\s+by|prerequisites?)$/],
  ['acceptance', /^(?:acceptance(?:\s+criteria)?|done\s+when|definition\s+of\s+done)$/],
  ['paths', /^(?:paths?|files?)$/],
  ['risk', /^risk(?:\s+level)?$/],
  ['milestone', /^(?:milestone|phase)$/],
  ['description', /^(?:description|details|summary)$/],
];

/**
 * `Name: value` (emphasis and a list marker allowed around it). Without a colon only
 * `Depends on …` / `Blocked by …` count, or a bare field name on its own line (a header for
 * sub-bullets): "After lunch we…" must stay prose.
 */
export function fieldLine(text: string): { name: FieldName; value: string } | undefined {
  const t = plain(listItem(text)?.body ?? text);
  let m = /^([A-Za-z][A-Za-z ]{0,30}?)\s*:\s*(.*)$/.exec(t);
  if (!m) m = /^(depends\s+on|blocked\s+by)\s+(.+)$/i.exec(t);
  if (!m) m = /^([A-Za-z][A-Za-z ]{0,30}?)()$/.exec(t);
  if (!m) return undefined;
  const label = m[1]!.toLowerCase().replace(/\s+/g, ' ');
  const name = FIELD_NAMES.find(([, re]) => re.test(label))?.[0];
  return name ? { name, value: m[2]!.trim() } : undefined;
}

export interface DependencyRef {
  readonly ref: string;
  readonly type: DependencyType;
  readonly artifact?: string;
}

const NONE = /^(?:none|nothing|n\/a|-|—|no dependencies)\.?$/i;
const SIMPLE_REF = /^(?:#?\d+|(?:task|step)\s+#?\d+|`[^`]+`)$/i;

/** `a, #2 (soft), Build the API (artifact: test-report)` → one ref per entry. */
export function dependencyRefs(value: string): DependencyRef[] {
  if (NONE.test(value.trim())) return [];
  const out: DependencyRef[] = [];
  for (const piece of value.split(/[,;]/)) {
    // "#1 and #2" is two refs; "Design and build" is one title.
    const parts = piece.split(/\s+(?:and|&)\s+/i).map((p) => p.trim());
    for (const part of parts.every((p) => SIMPLE_REF.test(stripQualifier(p).ref)) ? parts : [piece]) {
      const { ref, type, artifact } = stripQualifier(part.trim());
      const clean = ref.replace(/^[`"']+|[`"'.]+$/g, '').trim();
      if (clean && !NONE.test(clean)) out.push(artifact === undefined ? { ref: clean, type } : { ref: clean, type, artifact });
    }
  }
  return out;
}

function stripQualifier(text: string): DependencyRef {
  const m = /^(.*?)\s*\(\s*(hard|soft|approval|artifact)\s*(?::\s*([A-Za-z-]+)\s*)?\)$/i.exec(text);
  if (!m) return { ref: text, type: 'hard' };
  const type = m[2]!.toLowerCase() as DependencyType;
  return m[3] ? { ref: m[1]!, type, artifact: m[3].toLowerCase() } : { ref: m[1]!, type };
}

/** The level a value starts with; `med`/`moderate` read as medium. */
export function levelOf(value: string): Level | undefined {
  const w = /^[*_`]*([A-Za-z]+)/.exec(value.trim())?.[1]?.toLowerCase();
  if (w === 'low' || w === 'medium' || w === 'high') return w;
  if (w === 'med' || w === 'moderate') return 'medium';
  return undefined;
}

/** Paths in backticks if any are quoted, else the comma/space separated words. */
export function pathList(value: string): string[] {
  const quoted = [...value.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.trim());
  const items = quoted.length > 0 ? quoted : value.split(/[\s,;]+/);
  return items.filter((p) => p !== '' && p !== 'and');
}

/** Lowercase, dashes; at most 48 characters, cut at a dash. Never empty. */
export function slugify(title: string): string {
  let s = title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (s.length > 48) s = s.slice(0, 48).replace(/-[^-]*$/, '') || s.slice(0, 48);
  return s || 'task';
}

/** Text without Markdown emphasis, for matching. */
export function plain(text: string): string {
  return text.replace(/\*\*|__/g, '').trim();
}

/** Titles compare case- and space-insensitively, without emphasis or trailing punctuation. */
export function sameTitle(a: string, b: string): boolean {
  const norm = (s: string) => plain(s).replace(/[`"']/g, '').replace(/[.:;!]+$/, '').replace(/\s+/g, ' ').trim().toLowerCase();
  return norm(a) === norm(b);
}

export function quote(text: string, max = 60): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(t.length > max ? `${t.slice(0, max - 1)}…` : t);
}
