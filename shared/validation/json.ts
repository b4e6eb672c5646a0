// Bytes → JSON at the door, strictly: the body must be UTF-8 (a `charset` other than UTF-8 is
// refused, invalid bytes are refused rather than silently replaced), and the value must be
// something PostgreSQL and the rest of Facteur can hold: no NUL (jsonb and text cannot store
// U+0000: SQLSTATE 22P05), no lone surrogate (not Unicode; jsonb refuses it), bounded depth
// (5 000-deep nesting overflowed the stack of JSON.stringify later on) and element count.
import { NonRetriableError, ValidationError, type Issue } from '../errors/index.js';

export const JSON_LIMITS = Object.freeze({
  /** Nesting of arrays and objects. Real payloads (plans, test reports) stay under 10. */
  maxDepth: 64,
  /** Array items plus object members, over the whole document. */
  maxElements: 100_000,
});

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * The charset a content type names, if any (`text/plain; charset="UTF-16"` → `utf-16`).
 * Refuses anything but UTF-8 with a 415: every body Facteur reads is UTF-8 JSON or bytes.
 */
export function requireUtf8Charset(contentType: string | undefined): void {
  const m = /;\s*charset\s*=\s*("?)([^";\s]*)\1/i.exec(contentType ?? '');
  if (!m) return;
  const charset = m[2]!.toLowerCase();
  if (charset !== 'utf-8' && charset !== 'utf8') {
    throw new NonRetriableError('unsupported_media_type', `charset ${JSON.stringify(m[2])} is not accepted; send UTF-8`);
  }
}

/** Strict UTF-8 decoding: invalid bytes are an error naming the first bad offset. */
export function decodeUtf8(data: Uint8Array, what: string): string {
  try {
    return utf8.decode(data);
  } catch {
    const at = firstInvalidUtf8(data);
    throw new ValidationError(`${what} is not valid UTF-8`, [{ path: 'body', message: `invalid UTF-8 at byte ${at}` }], 'invalid_utf8');
  }
}

export function parseJsonBytes(data: Uint8Array, what: string): unknown {
  const text = decodeUtf8(data, what);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`${what} is not valid JSON`, [{ path: 'body', message: printable((err as Error).message) }], 'malformed_json');
  }
  const { issues, overLimit } = checkJsonValue(value);
  if (issues.length) throw new ValidationError(`${what} cannot be accepted`, issues, overLimit ? 'too_complex' : 'invalid_text');
  return value;
}

/**
 * Every problem that would stop the value from being stored or re-serialized: iterative (an
 * explicit stack), so hostile depth cannot overflow this check itself. At most 20 issues.
 */
export function checkJsonValue(value: unknown, limits = JSON_LIMITS): { issues: Issue[]; overLimit: boolean } {
  const issues: Issue[] = [];
  // paths are built only for the (rare) values that have a problem
  interface Frame { readonly v: unknown; readonly key: string | undefined; readonly parent: Frame | undefined; readonly depth: number }
  const pathOf = (f: Frame | undefined, last?: string): string => {
    const parts: string[] = last === undefined ? [] : [last];
    for (let at = f; at && at.key !== undefined; at = at.parent) parts.push(at.key);
    return printable(parts.reverse().join('.')).slice(0, 200) || '(root)';
  };
  const stack: Frame[] = [{ v: value, key: undefined, parent: undefined, depth: 0 }];
  let elements = 0;
  const add = (path: string, message: string) => {
    if (issues.length < 20) issues.push({ path, message });
  };
  while (stack.length) {
    const f = stack.pop()!;
    const v = f.v;
    if (typeof v === 'string') {
      const bad = badText(v);
      if (bad) add(pathOf(f), bad);
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (f.depth >= limits.maxDepth) {
      add(pathOf(f), `nesting deeper than ${limits.maxDepth} levels is not accepted`);
      return { issues, overLimit: true };
    }
    if (Array.isArray(v)) {
      elements += v.length;
      if (elements > limits.maxElements) break;
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], key: String(i), parent: f, depth: f.depth + 1 });
      continue;
    }
    for (const k in v as Record<string, unknown>) {
      if (++elements > limits.maxElements) break;
      const bad = badText(k);
      if (bad) add(pathOf(f, k), `key: ${bad}`);
      stack.push({ v: (v as Record<string, unknown>)[k], key: k, parent: f, depth: f.depth + 1 });
    }
    if (elements > limits.maxElements) break;
  }
  if (elements > limits.maxElements) {
    add('(root)', `more than ${limits.maxElements} array items and object members in all are not accepted`);
    return { issues, overLimit: true };
  }
  return { issues, overLimit: false };
}

/** Why a string cannot be stored as PostgreSQL text/jsonb, or undefined when it can. */
export function badText(s: string): string | undefined {
  if (s.includes('\u0000')) return 'NUL characters (\\u0000) are not accepted';
  if (hasLoneSurrogate(s)) return 'lone UTF-16 surrogates (e.g. \\ud800) are not valid Unicode';
  return undefined;
}

function hasLoneSurrogate(s: string): boolean {
  // Node 20 has String.prototype.isWellFormed; keep a fallback for older type libs.
  const wf = (s as unknown as { isWellFormed?: () => boolean }).isWellFormed;
  if (wf) return !wf.call(s);
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/**
 * A string safe to store as text and to print: NUL and other C0 controls (but tab and
 * newlines) become `\u` escapes (`\u0000`), lone surrogates become U+FFFD. For reasons and headers kept
 * with rejected input, which may echo the hostile bytes that caused the rejection.
 */
export function printable(s: string): string {
  const wf = typeof (s as unknown as { toWellFormed?: () => string }).toWellFormed === 'function' ? (s as unknown as { toWellFormed: () => string }).toWellFormed() : s;
  // eslint-disable-next-line no-control-regex -- exactly the control characters are the point
  return wf.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n === 0 || i + n > b.length) return i;
    for (let k = 1; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    // overlongs, surrogates and > U+10FFFF
    if (n === 3 && ((c === 0xe0 && b[i + 1]! < 0xa0) || (c === 0xed && b[i + 1]! >= 0xa0))) return i;
    if (n === 4 && ((c === 0xf0 && b[i + 1]! < 0x90) || (c === 0xf4 && b[i + 1]! >= 0x90))) return i;
    i += n;
  }
  return i;
}
