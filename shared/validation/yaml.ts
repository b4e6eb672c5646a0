// YAML documents people write (`.facteur/toolchain.yml`, policy packs), checked against a
// zod schema with every problem at once, each with its line and column, in the file's order.
// Strict objects make an unknown key an error the author sees, never a silent default.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ValidationError, type Issue } from '../errors/index.js';

export type YamlPath = readonly (string | number)[];

export interface YamlProblem {
  readonly path: YamlPath;
  readonly message: string;
}

export interface YamlOptions {
  /** Named in the error message: `<what> is invalid: …`. */
  readonly what: string;
  /** The ValidationError's code. */
  readonly code: string;
  readonly capBytes: number;
  /**
   * Checks the schema cannot say (duplicates, globs that compile), on the raw value: zod
   * skips an object's refinements once any of its fields is invalid, and every problem is
   * to be listed at once.
   */
  readonly check?: (value: unknown) => readonly YamlProblem[];
}

/** Locates paths of one document: `at(path, message)` is an Issue whose message ends with its position. */
export interface YamlLocator {
  at(path: YamlPath, message: string, keyOfLast?: boolean): Issue;
}

export function locator(text: string): YamlLocator {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  return {
    at(path, message, keyOfLast = false) {
      const { line, col } = lines.linePos(offsetOf(doc, path, keyOfLast));
      return { path: path.join('.'), message: `${message} (line ${line}, column ${col})` };
    },
  };
}

export function invalidYaml(what: string, code: string, issues: readonly Issue[]): ValidationError {
  const list = issues.map((i) => `${i.path || '(file)'}: ${i.message}`).join('; ');
  return new ValidationError(`${what} is invalid: ${list}`, issues, code);
}

/** Parses and validates; throws ValidationError `code` listing every problem with its position. */
export function parseYamlWith<S extends z.ZodType>(text: string, schema: S, opts: YamlOptions): z.output<S> {
  const fail = (issues: readonly Issue[]) => invalidYaml(opts.what, opts.code, issues);
  if (Buffer.byteLength(text) > opts.capBytes) throw fail([{ path: '', message: `is larger than ${opts.capBytes} bytes` }]);
  if (text.includes('\u0000')) throw fail([{ path: '', message: 'contains a NUL character' }]);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw fail(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
        const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return { path: '', message: `${what} (line ${pos.line}, column ${pos.col})` };
      }),
    );
  }
  let value: unknown;
  try {
    // A few aliases are fine; thousands are a "billion laughs" expansion.
    value = doc.toJS({ maxAliasCount: 20 });
  } catch (err) {
    throw fail([{ path: '', message: `${(err as Error).message} (line 1, column 1)` }]);
  }
  const at = (path: YamlPath, message: string, keyOfLast = false): Issue => {
    const { line, col } = lines.linePos(offsetOf(doc, path, keyOfLast));
    return { path: path.join('.'), message: `${message} (line ${line}, column ${col})` };
  };
  const parsed = schema.safeParse(value);
  const extra = opts.check ? opts.check(value) : [];
  if (parsed.success && extra.length === 0) return parsed.data;
  const issues: Issue[] = extra.map((p) => at(p.path, p.message));
  for (const issue of parsed.error?.issues ?? []) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push(at([...path, key], `unknown key "${key}"`, true));
    } else {
      issues.push(at(path, issue.message));
    }
  }
  throw fail(issues.sort((a, b) => position(a) - position(b)));
}

/** The YAML node at `path`, or the deepest ancestor that exists (a missing key's map). */
function offsetOf(doc: Document, path: YamlPath, keyOfLast = false): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (const [i, seg] of path.entries()) {
    let next: unknown;
    let keyNode: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      next = pair?.value;
      keyNode = pair?.key;
    } else if (isSeq(node) && typeof seg === 'number') next = node.items[seg];
    const last = i === path.length - 1;
    const at = rangeStart(last && keyOfLast ? keyNode : next) ?? rangeStart(keyNode);
    if (at === undefined) break;
    offset = at;
    node = next;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  if (typeof node !== 'object' || node === null || !('range' in node)) return undefined;
  const range = (node as { range?: readonly number[] | null }).range;
  return range?.[0];
}

/** Sort key of an issue: its line and column as written in its message. */
function position(issue: Issue): number {
  const m = /\(line (\d+), column (\d+)\)$/.exec(issue.message);
  return m ? Number(m[1]) * 100_000 + Number(m[2]) : 0;
}
