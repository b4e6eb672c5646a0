// User text (idea titles, reasons, findings) in GitHub and Discord markdown: it must read as
// text, never as markup, a mention or a forged marker. NUL and other control characters go,
// lone surrogates become U+FFFD, length is capped (a 100 KB title stays a title), markdown's
// punctuation is backslash-escaped, `<` and `>` cannot open HTML (nor a `<!-- facteur:… -->`
// marker), and `@` is followed by a zero-width joiner so `@everyone` or `@org/team` pings
// nobody (Discord's `allowed_mentions` says so again, GitHub has no such switch).

// eslint-disable-next-line no-control-regex -- control characters are what is removed
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const MARKDOWN = /[\\`*_{}[\]()#+\-.!|~>]/g;
const ZWJ = '\u200d';

/** Lone surrogates as U+FFFD (String#toWellFormed where the runtime has it; ES2023's lib lacks its type). */
function wellFormed(s: string): string {
  const native = (s as unknown as { toWellFormed?: () => string }).toWellFormed;
  if (typeof native === 'function') return native.call(s);
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** Well-formed, no control characters, at most `max` characters (an ellipsis marks the cut). */
export function plain(value: unknown, max: number): string {
  const s = wellFormed(typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value)).replace(CONTROL, ' ');
  if (s.length <= max) return s;
  // never cut a surrogate pair in two
  let end = max - 1;
  if (/[\ud800-\udbff]/.test(s[end - 1] ?? '')) end -= 1;
  return `${s.slice(0, end)}…`;
}

/** One line of user text as inert markdown. */
export function inline(value: unknown, max = 300): string {
  return plain(value, max)
    .replace(/[\r\n\t]+/g, ' ')
    .replace(MARKDOWN, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/@/g, `@${ZWJ}`);
}

/** The same for Discord, where HTML entities are shown as typed: `<` is escaped with a backslash. */
export function discordInline(value: unknown, max = 300): string {
  return plain(value, max)
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[\\`*_{}[\]()#+\-.!|~>:<]/g, (c) => `\\${c}`)
    .replace(/@/g, `@${ZWJ}`);
}
