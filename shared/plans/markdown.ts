// normalizeMarkdownPlan: a messy Markdown plan → the Plan structure, deterministically
// (no model call: the same text always gives byte-identical output). This file reads the
// lines into drafts; markdown-build.ts turns drafts into a plan. Every guess either makes
// is written to `decisions`, in document order, so a human can check the reading.
import { buildPlan, type Drafts, type Notes, type RiskDraft, type TaskDraft } from './markdown-build.js';
import {
  dependencyRefs,
  fieldLine,
  heading,
  isTaskHeading,
  listItem,
  pathList,
  plain,
  quote,
  sectionOf,
  type FieldName,
  type ListItem,
  type Section,
} from './markdown-syntax.js';

export interface NormalizedPlan {
  /** Plan-shaped, not yet validated: pass it to validatePlan. */
  readonly plan: unknown;
  readonly decisions: string[];
}

export function normalizeMarkdownPlan(markdown: string): NormalizedPlan {
  const reader = new Reader();
  markdown
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\r|\n/)
    .forEach((raw, i) => reader.line(i + 1, raw));
  return buildPlan(reader.drafts, reader.notes);
}

type Where = Section | 'preamble' | 'other';

class Reader {
  readonly drafts: Drafts = { tasks: [], milestones: [], risks: [], criteria: [], questions: [] };
  readonly notes: Notes = [];
  private where: Where = 'preamble';
  private level = 0;
  private taskLevel: number | undefined;
  private task: TaskDraft | undefined;
  private risk: RiskDraft | undefined;
  /** Indent and kind of the list whose items are tasks (or risks, milestones) in this section. */
  private listBase: number | undefined;
  private listKind: ListItem['kind'] | undefined;
  private table: string[] | undefined;
  private fence: { marker: string; keep: boolean; margin: number } | undefined;
  private blank = false;

  line(no: number, raw: string): void {
    const text = raw.trim();
    const indent = (/^\s*/.exec(raw.replace(/\t/g, '    '))?.[0] ?? '').length;
    if (this.fence) {
      const { marker, keep, margin } = this.fence;
      if (keep) this.task?.description.push(raw.replace(/\s+$/, '').replace(new RegExp(`^\\s{0,${margin}}`), ''));
      if (text.startsWith(marker)) this.fence = undefined;
      return;
    }
    const fence = /^(```|~~~)/.exec(text)?.[1];
    if (fence) {
      // Code in a task is part of its description; anywhere else it is not plan structure.
      const keep = this.where === 'tasks' && this.task !== undefined && (this.task.fromHeading || indent > (this.listBase ?? 0));
      this.fence = { marker: fence, keep, margin: indent };
      if (keep) this.task?.description.push(text);
      else this.note(no, 'ignored a code block');
      return;
    }
    if (text === '' || /^([-*_])(\s*\1){2,}$/.test(text)) {
      this.blank = true;
      return;
    }
    const afterBlank = this.blank;
    this.blank = false;
    const h = heading(text);
    if (h) return this.heading(no, h.level, h.text);
    if (!text.startsWith('|')) this.table = undefined;
    switch (this.where) {
      case 'tasks':
        return this.taskLine(no, indent, text, afterBlank);
      case 'risks':
        return this.riskLine(no, indent, text);
      case 'milestones':
        return this.milestoneLine(no, indent, text);
      case 'acceptance': {
        const li = listItem(text);
        return li ? void this.drafts.criteria.push(li.body) : this.ignore(no, text);
      }
      case 'questions': {
        const body = listItem(text)?.body ?? (text.endsWith('?') ? text : undefined);
        return body !== undefined ? void this.drafts.questions.push(body) : this.ignore(no, text);
      }
      default: {
        // A checklist is a task list wherever it stands; before any heading a numbered list is too.
        const li = listItem(text);
        if (li && (li.kind === 'check' || (this.where === 'preamble' && li.kind === 'number'))) {
          this.note(no, `${li.kind === 'check' ? 'checklist' : 'numbered list'} outside a Tasks section taken as tasks`);
          this.enter('tasks', this.level);
          return this.taskLine(no, indent, text, afterBlank);
        }
        return this.ignore(no, text);
      }
    }
  }

  private heading(no: number, level: number, text: string): void {
    const cur = this.task;
    if (cur?.fromHeading && this.taskLevel !== undefined && level > this.taskLevel) {
      // A sub-heading inside a task: a field header ("#### Acceptance criteria") or text.
      const f = fieldLine(text);
      if (f) return this.field(cur, no, -1, false, f.name, f.value);
      cur.mode = undefined;
      return void cur.description.push(text);
    }
    const section = sectionOf(text);
    if (section) return this.enter(section, level);
    if ((this.where === 'tasks' && level > this.level) || isTaskHeading(text)) {
      if (this.where !== 'tasks') this.enter('tasks', level - 1);
      this.taskLevel = level;
      this.task = this.startTask(no, text, true, undefined);
      return;
    }
    if (this.where === 'milestones' && level > this.level) return this.milestone(no, text, undefined);
    if (this.where === 'risks' && level > this.level) return this.startRisk(no, text);
    this.enter('other', level);
    this.note(no, `ignored heading ${quote(text)}`);
  }

  private enter(where: Where, level: number): void {
    this.where = where;
    this.level = level;
    this.taskLevel = this.listBase = this.listKind = undefined;
    this.task = this.risk = this.table = undefined;
  }

  private taskLine(no: number, indent: number, text: string, afterBlank: boolean): void {
    const li = listItem(text);
    const f = fieldLine(text);
    const cur = this.task;
    const startsTask =
      li !== undefined && !f && !cur?.fromHeading &&
      (this.listBase === undefined || (indent <= this.listBase && li.kind === this.listKind));
    if (li && startsTask) {
      this.listBase ??= indent;
      this.listKind ??= li.kind;
      this.task = this.startTask(no, li.body, false, li.number);
      return;
    }
    if (!cur) return this.ignore(no, text);
    if (f) return this.field(cur, no, indent, li !== undefined, f.name, f.value);
    const mode = cur.mode;
    // Items under a field header belong to it when nested deeper, or level with a header
    // that is a plain line (`Acceptance:` then `- …`); level with a `- Acceptance:` item
    // they are its siblings, except under a heading task where nothing else claims them.
    if (mode && li && (indent > mode.indent || (indent === mode.indent && (!mode.wasItem || cur.fromHeading)))) {
      if (mode.name === 'acceptance') cur.criteria.push(li.body);
      else if (mode.name === 'paths') cur.paths.push(...pathList(li.body));
      else cur.deps.push(...dependencyRefs(li.body).map((ref) => ({ ref, line: no })));
      return;
    }
    cur.mode = undefined;
    if (!li && !cur.fromHeading && afterBlank && indent <= (this.listBase ?? 0)) {
      // A paragraph back at the list's margin after a blank line has left the task list.
      this.task = undefined;
      return this.ignore(no, text);
    }
    if (li?.kind === 'check') {
      if (!cur.subChecksLine) cur.subChecksLine = no;
      return void cur.criteria.push(li.body);
    }
    cur.description.push(text);
  }

  private field(cur: TaskDraft, no: number, indent: number, wasItem: boolean, name: FieldName, value: string): void {
    cur.mode = undefined;
    switch (name) {
      case 'key':
        if (value) cur.key = { value: value.replace(/`/g, '').trim(), line: no };
        return;
      case 'risk':
        cur.risk = { value, line: no };
        return;
      case 'milestone':
        if (value) cur.milestone = { value: plain(value).replace(/`/g, ''), line: no };
        return;
      case 'description':
        if (value) cur.description.push(value);
        return;
      case 'depends':
        cur.deps.push(...dependencyRefs(value).map((ref) => ({ ref, line: no })));
        break;
      case 'acceptance':
        if (value) cur.criteria.push(value);
        break;
      case 'paths':
        cur.paths.push(...pathList(value));
        break;
    }
    if (!value) cur.mode = { name, indent, wasItem };
  }

  /** `### 2. Title`, `Task 3: Title`, `` `key` Title ``, `Title (depends on #1)`. */
  private startTask(no: number, text: string, fromHeading: boolean, listNumber: number | undefined): TaskDraft {
    let t = plain(text);
    let number = listNumber;
    const numbered = /^(?:(task|step)\s*)?#?(\d{1,4})(?:[.):\-–—]\s*|\s+)(.*)$/i.exec(t);
    if (numbered && (fromHeading || numbered[1])) {
      number ??= Number(numbered[2]);
      t = numbered[3]!;
    }
    const draft: TaskDraft = {
      line: no, title: '', fromHeading, description: [], deps: [], criteria: [], paths: [],
      ...(number !== undefined ? { number } : {}),
    };
    const keyed = /^`([^`]+)`\s*[:\-–—]?\s*(.*)$/.exec(t);
    if (keyed) {
      draft.key = { value: keyed[1]!.trim(), line: no };
      t = keyed[2]!;
    }
    const after = /\s*(?:\(\s*(?:depends\s+on|after|requires|blocked\s+by)\s*:?\s*([^)]*)\)|\s[-–—;]\s*(?:depends\s+on|after|requires|blocked\s+by)\s*:?\s*(.+))$/i.exec(t);
    if (after) {
      draft.deps.push(...dependencyRefs(after[1] ?? after[2] ?? '').map((ref) => ({ ref, line: no })));
      t = t.slice(0, after.index);
    }
    draft.title = t.replace(/[:\s]+$/, '').trim();
    this.drafts.tasks.push(draft);
    return draft;
  }

  private riskLine(no: number, indent: number, text: string): void {
    if (text.startsWith('|')) {
      const cells = text.replace(/^\||\|$/g, '').split('|').map((c) => plain(c.trim()));
      if (!this.table) this.table = cells.map((c) => c.toLowerCase());
      else if (!cells.every((c) => /^:?-+:?$/.test(c))) {
        const fields: Record<string, string> = {};
        this.table.forEach((name, i) => (fields[name] = cells[i] ?? ''));
        this.drafts.risks.push({ line: no, parts: [], cells: fields });
      }
      return;
    }
    const li = listItem(text);
    if (li && (this.listBase === undefined || indent <= this.listBase)) {
      this.listBase ??= indent;
      return this.startRisk(no, li.body);
    }
    if (this.risk) return void this.risk.parts.push(li?.body ?? text);
    this.ignore(no, text);
  }

  private startRisk(no: number, text: string): void {
    this.risk = { line: no, parts: [text] };
    this.drafts.risks.push(this.risk);
  }

  private milestoneLine(no: number, indent: number, text: string): void {
    const li = listItem(text);
    if (li && (this.listBase === undefined || indent <= this.listBase)) {
      this.listBase ??= indent;
      return this.milestone(no, li.body, li.number);
    }
    this.ignore(no, text);
  }

  private milestone(no: number, text: string, number: number | undefined): void {
    const t = plain(text);
    const given = /^`([^`]+)`\s*[:.)\-–—]?\s*(.*)$/.exec(t) ?? /^([A-Za-z]{0,12}[-_.]?\d+[A-Za-z0-9._-]*)\s*(?:[:.)]|\s[-–—])\s*(.+)$/.exec(t);
    if (given) return void this.drafts.milestones.push({ line: no, id: given[1]!, title: given[2] || given[1]! });
    const named = /^(?:milestone|phase)\s+(\d+)(?:\s*[:.)\-–—])?\s*(.*)$/i.exec(t);
    if (named) return void this.drafts.milestones.push({ line: no, number: Number(named[1]), title: named[2] || t });
    this.drafts.milestones.push({ line: no, title: t, ...(number !== undefined ? { number } : {}) });
  }

  private ignore(no: number, text: string): void {
    this.note(no, `ignored ${quote(text)}`);
  }

  private note(line: number, text: string): void {
    this.notes.push({ line, text });
  }
}
