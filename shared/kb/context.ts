// A run's retrievedContext: the lessons chosen for it, as one stable text within a fixed
// budget of UTF-8 bytes. The same lessons in the same order give the same bytes (nothing of
// the moment goes in: no clock, no scores that move), so a resubmitted Workflow and the
// decision shown by GET /v1/runs/{id}/context say exactly what the step read.
//
// The budget is the Workflow parameter's (ARCHITECTURE §4: 4 KB): whole lessons are preferred
// — one that does not fit is left out and a later, shorter one may take its place — and only
// when not even one fits whole is the first cut, on a character boundary, with a marker.

/** The most a retrievedContext may hold, in UTF-8 bytes. */
export const CONTEXT_BUDGET_BYTES = 4096;

export interface ContextEntry {
  readonly id: string;
  readonly stage: string | null;
  readonly outcome: string | null;
  readonly paths: readonly string[];
  readonly content: string;
}

export interface FormattedContext {
  readonly text: string;
  readonly bytes: number;
  /** The entries that went in (whole or, for a lone first one, cut), in order. */
  readonly included: readonly string[];
  /** The entries left out because they did not fit the budget. */
  readonly overBudget: readonly string[];
}

const CUT_MARKER = '\n[… cut to fit the context budget]\n';

export const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * The longest prefix of `s` within `max` UTF-8 bytes, cut between code points (a lone
 * surrogate counts as the 3 bytes of the replacement character it is encoded as).
 */
export function cutUtf8(s: string, max: number): string {
  if (utf8Bytes(s) <= max) return s;
  let bytes = 0;
  let end = 0;
  for (const ch of s) {
    const b = utf8Bytes(ch);
    if (bytes + b > max) break;
    bytes += b;
    end += ch.length;
  }
  return s.slice(0, end);
}

/** Control characters other than newline and tab would garble the prompt: they become spaces. */
function clean(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ').replace(/\s+$/u, '');
}

function header(repository: string, count: number): string {
  return `# Lessons from earlier runs in ${clean(repository).slice(0, 200)} (${count})\n`;
}

function entryText(n: number, e: ContextEntry): string {
  const meta = [e.stage ?? 'run', e.outcome ?? 'unknown'].map(clean).join(', ');
  const paths = e.paths.length ? ` — ${e.paths.slice(0, 8).map(clean).join(', ')}${e.paths.length > 8 ? ', …' : ''}` : '';
  return `\n## ${n}. ${meta}${paths}\n${clean(e.content)}\n`;
}

/** Formats `entries` (already in their final order) into at most `budget` bytes. */
export function formatContext(repository: string, entries: readonly ContextEntry[], budget = CONTEXT_BUDGET_BYTES): FormattedContext {
  if (entries.length === 0 || budget <= 0) return { text: '', bytes: 0, included: [], overBudget: entries.map((e) => e.id) };
  // the header's count is the number included, so the packing is done first with a header
  // sized for the largest count it could say, then written with the real one
  const room = budget - utf8Bytes(header(repository, entries.length));
  const included: ContextEntry[] = [];
  const overBudget: string[] = [];
  let used = 0;
  for (const e of entries) {
    const size = utf8Bytes(entryText(included.length + 1, e));
    if (used + size <= room) {
      included.push(e);
      used += size;
    } else {
      overBudget.push(e.id);
    }
  }
  let body = included.map((e, i) => entryText(i + 1, e)).join('');
  if (included.length === 0) {
    // not one lesson fits whole: the first, cut, says more than nothing
    const first = entries[0]!;
    overBudget.shift();
    included.push(first);
    body = cutUtf8(entryText(1, first), Math.max(0, room - utf8Bytes(CUT_MARKER))) + CUT_MARKER;
  }
  const text = cutUtf8(header(repository, included.length) + body, budget);
  return { text, bytes: utf8Bytes(text), included: included.map((e) => e.id), overBudget };
}
