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
import { z } from 'zod';
import { ValidationError, type Issue } from '../../errors/index.js';
import { invalidYaml, locator, parseYamlWith, type YamlProblem } from '../../validation/yaml.js';
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

/**
 * Command names used twice, checked on the raw value: zod skips an object's refinements
 * once any of its fields is invalid, and every problem is to be listed at once.
 */
function duplicateNames(value: unknown): YamlProblem[] {
  const commands = typeof value === 'object' && value !== null ? (value as { commands?: unknown }).commands : undefined;
  if (!Array.isArray(commands)) return [];
  const seen = new Set<string>();
  const out: YamlProblem[] = [];
  commands.forEach((c: unknown, i) => {
    const name = typeof c === 'object' && c !== null ? (c as { name?: unknown }).name : undefined;
    if (typeof name !== 'string') return;
    if (seen.has(name)) out.push({ path: ['commands', i, 'name'], message: `duplicate command name "${name}"` });
    seen.add(name);
  });
  return out;
}

export type ToolchainFile = z.infer<typeof fileSchema>;

function invalid(issues: readonly Issue[]): ValidationError {
  return invalidYaml(TOOLCHAIN_FILE, 'invalid_toolchain_file', issues);
}

/** Parses and validates the file's text; throws ValidationError `invalid_toolchain_file`. */
export function parseToolchainFile(text: string): ToolchainFile {
  return parseYamlWith(text, fileSchema, { what: TOOLCHAIN_FILE, code: 'invalid_toolchain_file', capBytes: TOOLCHAIN_FILE_CAP_BYTES, check: duplicateNames });
}

/** Every root and cwd must be a directory of the repository: said now, with its line. */
async function checkDirectories(repoDir: string, text: string, file: ToolchainFile): Promise<void> {
  const { at } = locator(text);
  const root = file.root ?? '.';
  const issues: Issue[] = [];
  if (!(await isDir(join(repoDir, root)))) issues.push(at(['root'], `directory "${root}" not found`));
  else {
    for (const [i, c] of file.commands.entries()) {
      if (c.cwd !== undefined && !(await isDir(join(repoDir, root, c.cwd)))) {
        issues.push(at(['commands', i, 'cwd'], `directory "${posix.join(root, c.cwd)}" not found`));
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
