// `.facteur/toolchain.yml`: a repository says itself how it is installed, built and tested,
// and detection is skipped. The file is strict — unknown keys are refused, not ignored, so
// a typo (`timeout:` for `timeoutS:`) is an error the author sees, not a silently default
// run — and every problem is reported at once with its line and column.
//
// The file (version 1):
//
//   version: 1                 # required, the only version
//   toolchain: node            # optional label shown in the test report (default: custom)
//   root: packages/api         # optional package root, relative to the repository ('.')
//   commands:                  # required, run in this order, at least one
//     - name: install          # install | build | lint | test | any [a-z][a-z0-9_-]*
//       argv: [npm, ci]        # program and arguments; no shell, so no pipes or $VARS
//       timeoutS: 900          # optional, whole seconds (default: the gates' own)
//     - name: test
//       argv: [npm, test, --, --reporter=tap]
//       cwd: server            # optional, relative to root (default: root itself)
//
// A failed `install` or `build` skips the commands after it, as for detected toolchains.
import { readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { ValidationError, type Issue } from '../../errors/index.js';
import { isDir } from './files.js';
import type { CommandSpec, ToolchainPlan } from './types.js';

export const TOOLCHAIN_FILE = '.facteur/toolchain.yml';
export const TOOLCHAIN_FILE_CAP_BYTES = 64 * 1024;
const MAX_TIMEOUT_S = 6 * 60 * 60;

/** Why `p` is not a safe relative directory inside the repository, or undefined. */
export function relativePathProblem(p: string): string | undefined {
  if (p === '') return 'must not be empty';
  // eslint-disable-next-line no-control-regex -- control characters have no place in a path
  if (/[\u0000-\u001f\\]/.test(p)) return 'must not contain control characters or backslashes';
  if (p.startsWith('/')) return 'must be relative to the repository';
  if (p.split('/').includes('..')) return 'must not contain ".."';
  return undefined;
}

const relativeDir = z.string().superRefine((v, ctx) => {
  const problem = relativePathProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const argvSchema = z
  .array(
    z
      .string()
      .min(1, 'must not be empty')
      .refine((s) => !s.includes('\u0000'), 'must not contain NUL'),
    { error: (i) => (typeof i.input === 'string' ? 'must be a list [program, arg, …], not a shell string' : undefined) },
  )
  .min(1, 'must name a program')
  .max(256);

const commandSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be a short lowercase name such as install, build, lint or test'),
  argv: argvSchema,
  cwd: relativeDir.optional(),
  timeoutS: z.number().int('must be whole seconds').min(1).max(MAX_TIMEOUT_S).optional(),
});

const fileSchema = z.strictObject({
  version: z.literal(1, 'must be 1'),
  toolchain: z.string().regex(/^[a-z0-9][a-z0-9+._-]{0,63}$/, 'must be a short lowercase label such as node').optional(),
  root: relativeDir.optional(),
  commands: z.array(commandSchema).min(1, 'must list at least one command').max(64),
});

type Path = readonly (string | number)[];

/**
 * Command names used twice, checked on the raw value: zod skips an object's refinements
 * once any of its fields is invalid, and every problem is to be listed at once.
 */
function duplicateNames(value: unknown): { path: Path; message: string }[] {
  const commands = typeof value === 'object' && value !== null ? (value as { commands?: unknown }).commands : undefined;
  if (!Array.isArray(commands)) return [];
  const seen = new Set<string>();
  const out: { path: Path; message: string }[] = [];
  commands.forEach((c: unknown, i) => {
    const name = typeof c === 'object' && c !== null ? (c as { name?: unknown }).name : undefined;
    if (typeof name !== 'string') return;
    if (seen.has(name)) out.push({ path: ['commands', i, 'name'], message: `duplicate command name "${name}"` });
    seen.add(name);
  });
  return out;
}

export type ToolchainFile = z.infer<typeof fileSchema>;

/** The YAML node at `path`, or the deepest ancestor that exists (a missing key's map). */
function offsetOf(doc: Document, path: Path, keyOfLast = false): number {
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

function issueAt(doc: Document, lines: LineCounter, path: Path, message: string, keyOfLast = false): Issue {
  const { line, col } = lines.linePos(offsetOf(doc, path, keyOfLast));
  return { path: path.join('.'), message: `${message} (line ${line}, column ${col})` };
}

/** Sort key of an issue: its line and column as written in its message. */
function position(issue: Issue): number {
  const m = /\(line (\d+), column (\d+)\)$/.exec(issue.message);
  return m ? Number(m[1]) * 100_000 + Number(m[2]) : 0;
}

function invalid(issues: readonly Issue[]): ValidationError {
  const list = issues.map((i) => `${i.path || '(file)'}: ${i.message}`).join('; ');
  return new ValidationError(`${TOOLCHAIN_FILE} is invalid: ${list}`, issues, 'invalid_toolchain_file');
}

/** Parses and validates the file's text; throws ValidationError `invalid_toolchain_file`. */
export function parseToolchainFile(text: string): ToolchainFile {
  if (Buffer.byteLength(text) > TOOLCHAIN_FILE_CAP_BYTES) {
    throw invalid([{ path: '', message: `is larger than ${TOOLCHAIN_FILE_CAP_BYTES} bytes` }]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw invalid(
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
    throw invalid([{ path: '', message: `${(err as Error).message} (line 1, column 1)` }]);
  }
  const parsed = fileSchema.safeParse(value);
  const duplicates = duplicateNames(value);
  if (parsed.success && duplicates.length === 0) return parsed.data;
  const issues: Issue[] = duplicates.map((d) => issueAt(doc, lines, d.path, d.message));
  for (const issue of parsed.error?.issues ?? []) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push(issueAt(doc, lines, [...path, key], `unknown key "${key}"`, true));
    } else {
      issues.push(issueAt(doc, lines, path, issue.message));
    }
  }
  // In the file's order, so the author can fix them top to bottom.
  throw invalid(issues.sort((a, b) => position(a) - position(b)));
}

/** Every root and cwd must be a directory of the repository: said now, with its line. */
async function checkDirectories(repoDir: string, text: string, file: ToolchainFile): Promise<void> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const root = file.root ?? '.';
  const issues: Issue[] = [];
  if (!(await isDir(join(repoDir, root)))) issues.push(issueAt(doc, lines, ['root'], `directory "${root}" not found`));
  else {
    for (const [i, c] of file.commands.entries()) {
      if (c.cwd !== undefined && !(await isDir(join(repoDir, root, c.cwd)))) {
        issues.push(issueAt(doc, lines, ['commands', i, 'cwd'], `directory "${posix.join(root, c.cwd)}" not found`));
      }
    }
  }
  if (issues.length > 0) throw invalid(issues);
}

/** The plan the file describes. */
export function planFromFile(file: ToolchainFile): ToolchainPlan {
  const root = posix.normalize(file.root ?? '.').replace(/\/$/, '');
  const toolchain = file.toolchain ?? 'custom';
  const commands: CommandSpec[] = file.commands.map((c) => ({
    name: c.name,
    argv: [...c.argv],
    cwd: posix.normalize(posix.join(root, c.cwd ?? '.')).replace(/\/$/, ''),
    ...(c.timeoutS !== undefined ? { timeoutMs: c.timeoutS * 1000 } : {}),
    root,
    toolchain,
  }));
  return {
    source: 'file',
    detections: [{ toolchain, root, confidence: 1, evidence: [TOOLCHAIN_FILE] }],
    commands,
  };
}

/**
 * The plan from `repoDir`'s `.facteur/toolchain.yml`, undefined when there is none.
 * Throws ValidationError `invalid_toolchain_file` listing every problem.
 */
export async function readToolchainFile(repoDir: string): Promise<ToolchainPlan | undefined> {
  const path = join(repoDir, TOOLCHAIN_FILE);
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw invalid([{ path: '', message: 'is not a regular file' }]);
    size = s.size;
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    return undefined;
  }
  if (size > TOOLCHAIN_FILE_CAP_BYTES) throw invalid([{ path: '', message: `is ${size} bytes, larger than ${TOOLCHAIN_FILE_CAP_BYTES}` }]);
  const text = await readFile(path, 'utf8');
  const file = parseToolchainFile(text);
  await checkDirectories(repoDir, text, file);
  return planFromFile(file);
}
