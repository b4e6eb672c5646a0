// Facteur's idea template (docs/idea-template.md, .github/ISSUE_TEMPLATE/facteur-idea.md) as
// a person fills it in an issue: Markdown with the headings Goal, Constraints, Success
// metrics and Non-goals. Read leniently, as people write: CRLF, any heading level, any case,
// emoji or "(required)" beside the words, extra sections (ignored), the template's HTML
// comments left in, list items or paragraphs, ticked boxes; a heading inside a code fence is
// text. Linear in the body's size (a 1 MB body is read in milliseconds).

export const TEMPLATE_FIELDS = ['goal', 'constraints', 'successMetrics', 'nonGoals'] as const;
export type TemplateField = (typeof TEMPLATE_FIELDS)[number];

/** The heading each field is written under, as the template spells it. */
export const HEADINGS: Readonly<Record<TemplateField, string>> = Object.freeze({
  goal: 'Goal',
  constraints: 'Constraints',
  successMetrics: 'Success metrics',
  nonGoals: 'Non-goals',
});

/** Goal, Constraints and Success metrics must be there and filled (seed 001 §6.1); Non-goals may be empty. */
export const REQUIRED: readonly TemplateField[] = Object.freeze(['goal', 'constraints', 'successMetrics']);

const NAMES: Readonly<Record<string, TemplateField>> = Object.freeze({
  goal: 'goal', goals: 'goal', 'the goal': 'goal',
  constraint: 'constraints', constraints: 'constraints',
  'success metric': 'successMetrics', 'success metrics': 'successMetrics', 'success criteria': 'successMetrics',
  'non goal': 'nonGoals', 'non goals': 'nonGoals', nongoal: 'nonGoals', nongoals: 'nonGoals', 'out of scope': 'nonGoals',
});

/** What people (and GitHub's issue forms) write for "nothing here". */
const PLACEHOLDER = /^(_?no response_?|n\/?a|none|nothing|tbd|todo|-+|\.+)$/i;

export interface ParsedTemplate {
  /** Which of the template's headings the body has (even when the section is empty). */
  readonly present: ReadonlySet<TemplateField>;
  readonly goal: string;
  readonly constraints: readonly string[];
  readonly successMetrics: readonly string[];
  readonly nonGoals: readonly string[];
}

/** The field a heading names, or undefined for any other heading. */
export function fieldOfHeading(text: string): TemplateField | undefined {
  if (text.length > 200) return undefined;
  const words = text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').replace(/\b(required|optional)\b/g, ' ').replace(/\s+/g, ' ').trim();
  return NAMES[words];
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const HEADING = /^ {0,3}#{1,6}(?:[ \t]|$)/;
const ITEM = /^\s*(?:[-*+]|\d{1,9}[.)])(?:\s+|$)/;
const BOX = /^\[([ xX])\](?:\s+|$)/;

/** Removes `<!-- … -->` comments, which may span lines; `open` says whether one is still open. */
function stripComments(line: string, open: boolean): { text: string; open: boolean } {
  let out = '';
  let rest = line;
  let inComment = open;
  for (;;) {
    if (inComment) {
      const end = rest.indexOf('-->');
      if (end < 0) return { text: out, open: true };
      rest = rest.slice(end + 3);
      inComment = false;
    }
    const start = rest.indexOf('<!--');
    if (start < 0) return { text: out + rest, open: false };
    out += rest.slice(0, start);
    rest = rest.slice(start + 4);
    inComment = true;
  }
}

/** Splits the body into its sections' lines, by field. */
function sections(body: string): { lines: Map<TemplateField, string[]>; present: Set<TemplateField> } {
  const lines = new Map<TemplateField, string[]>();
  const present = new Set<TemplateField>();
  let current: TemplateField | undefined;
  let fence: string | undefined;
  let comment = false;
  for (const raw of body.replace(/\r\n?/g, '\n').split('\n')) {
    if (fence) {
      if (raw.trimStart().startsWith(fence) && raw.trim().replace(/[`~]/g, '') === '') fence = undefined;
      if (current) lines.get(current)!.push(raw);
      continue;
    }
    const { text, open } = stripComments(raw, comment);
    const dropped = comment && open && text === '';
    comment = open;
    if (dropped) continue;
    const opened = FENCE.exec(text);
    if (opened) {
      fence = opened[1]![0]!.repeat(opened[1]!.length);
      if (current) lines.get(current)!.push(text);
      continue;
    }
    if (HEADING.test(text)) {
      current = fieldOfHeading(text.replace(/^ {0,3}#{1,6}/, '').replace(/#+\s*$/, '').trim());
      if (current) {
        present.add(current);
        if (!lines.has(current)) lines.set(current, []);
      }
      continue;
    }
    if (current) lines.get(current)!.push(text);
  }
  return { lines, present };
}

/** A section's text, trimmed; empty when it only holds a placeholder. */
function textOf(lines: readonly string[]): string {
  const text = lines.join('\n').trim();
  return PLACEHOLDER.test(text) ? '' : text;
}

/**
 * A section as items: each list item (its indented continuation lines joined) or each
 * paragraph. A ticked box counts; an unticked one is an option not chosen; placeholders and
 * empty items are dropped.
 */
function itemsOf(lines: readonly string[]): string[] {
  const items: string[] = [];
  let open: string[] | undefined;
  let skipping = false;
  const close = () => {
    if (open && !skipping) {
      const item = open.join(' ').replace(/\s+/g, ' ').trim();
      if (item && !PLACEHOLDER.test(item)) items.push(item);
    }
    open = undefined;
    skipping = false;
  };
  for (const line of lines) {
    const item = ITEM.exec(line);
    if (item) {
      close();
      let text = line.slice(item[0].length);
      const box = BOX.exec(text);
      if (box) {
        skipping = box[1] === ' ';
        text = text.slice(box[0].length);
      }
      open = [text];
    } else if (line.trim() === '') close();
    else if (open) open.push(line.trim());
    else open = [line.trim()];
  }
  close();
  return items;
}

export function parseTemplate(body: string): ParsedTemplate {
  const { lines, present } = sections(body);
  const of = (f: TemplateField) => lines.get(f) ?? [];
  return {
    present,
    goal: textOf(of('goal')),
    constraints: itemsOf(of('constraints')),
    successMetrics: itemsOf(of('successMetrics')),
    nonGoals: itemsOf(of('nonGoals')),
  };
}

export interface FieldProblem {
  /** The template's heading (`Success metrics`), or `title`, `labels`, `repository`, `body`. */
  readonly field: string;
  readonly message: string;
}

/** The required sections that are missing or empty, one problem each. */
export function missingFields(t: ParsedTemplate): FieldProblem[] {
  return REQUIRED.flatMap((f) => {
    const value = t[f];
    if (!t.present.has(f)) return [{ field: HEADINGS[f], message: `the "## ${HEADINGS[f]}" section is missing` }];
    if (value.length === 0) return [{ field: HEADINGS[f], message: `the "## ${HEADINGS[f]}" section is empty` }];
    return [];
  });
}
