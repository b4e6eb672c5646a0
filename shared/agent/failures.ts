// Failure classification (Phase 4): what went wrong in a step, as one code of a fixed family
// plus a normalized signature, so recurring failures can be counted and clustered across
// runs and machines, and the cheap deterministic mitigations (install again, retry) chosen.
//
// The rules are ordered, most specific first: an install that failed with a 403 is an auth
// problem, not a missing dependency, and a test run that never compiled is a compile error.
// They match what the ecosystems really print (npm, node, tsc, pytest, go, cargo, maven).

export const FAILURE_CODES = [
  'missing_dependency',
  'wrong_working_directory',
  'no_tests_found',
  'compile_error',
  'test_failure',
  'lint_failure',
  'timeout',
  'scope_violation',
  'agent_error',
  'git_conflict',
  'auth_failed',
  'command_not_found',
  'unknown',
] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

export interface FailureHint {
  readonly action: 'retry_install' | 'retry' | 'none';
  readonly message: string;
}

export interface Failure {
  readonly code: FailureCode;
  /** The first meaningful error line, with everything run-specific replaced by placeholders. */
  readonly signature: string;
  readonly hint?: FailureHint;
}

export interface FailureInput {
  /** The check that failed: install, build, lint, test — or scope, agent, git for the step's own. */
  readonly check?: string;
  readonly output: string;
  readonly exitCode?: number | null;
  readonly timedOut?: boolean;
}

interface Rule {
  readonly code: FailureCode;
  /** Matched line by line; the first matching line becomes the signature. */
  readonly pattern?: RegExp;
  readonly when?: (input: FailureInput) => boolean;
}

const isCheck = (name: string) => (input: FailureInput) => input.check === name;

const RULES: readonly Rule[] = [
  { code: 'timeout', when: (i) => i.timedOut === true },
  { code: 'scope_violation', when: isCheck('scope') },
  { code: 'git_conflict', pattern: /^CONFLICT \(|Automatic merge failed|^Merge conflict in |You have unmerged paths|error: could not apply|needs merge$/ },
  {
    code: 'auth_failed',
    pattern:
      /Authentication failed|Permission denied \(publickey|could not read Username|terminal prompts disabled|Bad credentials|\b40[13]\b.*\b(Unauthorized|Forbidden)\b|\b(Unauthorized|Forbidden)\b.*\b40[13]\b|npm (ERR!|error) code E40[13]|returned error: 40[13]|HTTP (Error )?40[13]\b/i,
  },
  { code: 'agent_error', when: isCheck('agent') },
  {
    code: 'wrong_working_directory',
    pattern:
      /facteur: working directory not found|ENOENT.*package\.json|Could not read package\.json|go: go\.mod file not found|go: cannot find main module|could not find `Cargo\.toml`|there is no POM in this directory|file or directory not found: /,
  },
  {
    code: 'missing_dependency',
    // A module named by a relative path is the project's own file: that is a code error.
    pattern:
      /Cannot find module '[^./]|ERR_MODULE_NOT_FOUND|Cannot find package '|ModuleNotFoundError|No module named|cannot find package "|no required module provides package|missing go\.sum entry|error\[E0432\]|error\[E0433\]|unresolved import|use of undeclared crate|can't find crate|Could not resolve dependencies|Could not find artifact|package [\w.]+ does not exist|ERESOLVE|npm (ERR!|error) 404|No matching version found|No matching distribution found|Could not find a version that satisfies|Failed to resolve import/,
  },
  { code: 'command_not_found', pattern: /facteur: command not found|: command not found$|: not found$|spawn \S+ ENOENT|is not recognized as an internal or external command/ },
  { code: 'command_not_found', when: (i) => i.exitCode === 127 },
  {
    code: 'no_tests_found',
    pattern: /no tests ran|No test files found|testing: warning: no tests to run|No tests found|collected 0 items|No tests were executed|There are no tests to run/,
  },
  // pytest's exit code 5: "no tests were collected".
  { code: 'no_tests_found', when: (i) => i.check === 'test' && i.exitCode === 5 },
  { code: 'lint_failure', when: isCheck('lint') },
  {
    code: 'compile_error',
    pattern:
      /error TS\d+|\bSyntaxError\b|\bIndentationError\b|error\[E\d{4}\]|error: could not compile|COMPILATION ERROR|Compilation failure|cannot find symbol|\[build failed\]|\.go:\d+:\d+: |^\S+\.(c|cc|cpp|java|kt|rs|ts|tsx):\d+:\d+: error|Cannot find module '\./,
  },
  {
    code: 'test_failure',
    pattern: /^--- FAIL:|^not ok \d+|^# fail [1-9]|\b[1-9]\d* failed\b|Tests run:.*(Failures|Errors): [1-9]|test result: FAILED|AssertionError|^FAILED |^FAIL\b/,
  },
  { code: 'test_failure', when: isCheck('test') },
  { code: 'lint_failure', pattern: /✖ \d+ problems?|^Found \d+ errors?\.|clippy::|\beslint\b/ },
  { code: 'compile_error', when: isCheck('build') },
  { code: 'missing_dependency', when: isCheck('install') },
];

const HINTS: Partial<Record<FailureCode, FailureHint>> = {
  missing_dependency: { action: 'retry_install', message: 'a dependency is missing: add it to the manifest and lockfile, or install again' },
  command_not_found: { action: 'retry_install', message: 'a program is missing: install the project (its tools live in its dependencies) or the toolchain' },
  timeout: { action: 'retry', message: 'the command ran out of time: retry once, then raise its timeout' },
  unknown: { action: 'retry', message: 'the failure is not recognised: retry once, then look at the output' },
  wrong_working_directory: { action: 'none', message: 'the command ran in the wrong directory: set root or cwd in .facteur/toolchain.yml' },
  no_tests_found: { action: 'none', message: 'no tests were found: add tests or name the test command in .facteur/toolchain.yml' },
  auth_failed: { action: 'none', message: 'credentials were refused: a retry will not help until they are fixed' },
  git_conflict: { action: 'none', message: 'the branch conflicts with its base: rebase it before another attempt' },
  scope_violation: { action: 'none', message: "files outside the task's paths were changed" },
};

// eslint-disable-next-line no-control-regex -- ANSI escapes start with ESC
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007]*\u0007/g;

function lines(text: string): string[] {
  return text.replace(ANSI, '').split(/\r?\n|\r/);
}

/** Lines that name an error outright, preferred as the signature. */
const STRONG =
  /\b[A-Z]\w*(Error|Exception)\b(\s*\[\w+\])?:|^\s*error(\[E\d+\])?:|error TS\d+|^--- FAIL:|^FAIL\b|^not ok \d+|^E\s{2,}\S|npm (ERR!|error) (code|404)|^CONFLICT \(|^fatal:|^panic:|^test \S+ \.\.\. FAILED$|panicked at |^test result: FAILED|\[ERROR\].*(Failed|failure|error:|cannot|does not exist)|^\S+:\d+:\d+: /;
/** Lines that sound like a problem; the first one is used when no strong line is found. */
const WEAK = /\b(error|errors|fail|failed|failure|fatal|panic|exception|cannot|could not|not found|denied|conflict|unresolved|undefined)\b/i;
/** Lines that never explain anything: stack frames, pointers, node's source excerpts. */
const NOISE = /^\s*(at |\^+\s*$|throw |~+\s*$|node:internal\/|Require stack:|npm (ERR!|error) (A complete log|Log files|$))/;

/** The line(s) a signature is made from: the first strong error line, else the first weak one. */
function meaningful(text: string): string {
  const all = lines(text);
  const useful = (l: string) => l.trim() !== '' && !NOISE.test(l);
  let index = all.findIndex((l) => useful(l) && STRONG.test(l));
  if (index < 0) index = all.findIndex((l) => useful(l) && WEAK.test(l));
  if (index < 0) index = all.findIndex(useful);
  if (index < 0) return '';
  const first = all[index]!;
  // A bare "FAIL" or "error:" says little: the next line says what failed.
  if (first.trim().length >= 16) return first;
  const next = all.slice(index + 1).find(useful);
  return next === undefined ? first : `${first} ${next.trim()}`;
}

/** Replaces what differs between two runs of the same failure: paths, numbers, hashes, ids. */
function strip(line: string): string {
  return (
    line
      .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>')
      .replace(/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?/g, '<time>')
      .replace(/\b[A-Za-z]:\\[^\s'"`)\]>,;]*/g, '<path>')
      // Absolute, home, ./ and ../ paths, where a token starts (not inside a URL).
      .replace(/(?<=^|[\s'"`(\[<=])(?:\/|~\/|\.{1,2}\/)[^\s'"`)\]>,;]*/g, '<path>')
      // Relative paths of two or more parts ending in a file name (src/a.ts:3:5).
      .replace(/(?<=^|[\s'"`(\[<=])[\w.@+-]+(?:\/[\w.@+-]+)+\.[A-Za-z]\w{0,5}(?::\d+)*/g, '<path>')
      .replace(/\b0x[0-9a-f]+\b/gi, '<hex>')
      .replace(/\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,64}\b/gi, '<hex>')
      .replace(/\b\d+(\.\d+)?\s?(ns|µs|us|ms|s|sec|seconds?|m|min|h)\b/g, '<dur>')
      .replace(/\b\d+(\.\d+)?\b/g, '<n>')
      .replace(/\s+/g, ' ')
      .trim()
  );
}

const SIGNATURE_MAX = 240;

/**
 * The first meaningful error line(s) of `text`, normalized so that the same failure gives the
 * same signature on every run and machine: paths, temp dirs, line:column numbers, hashes,
 * uuids, timestamps and durations become placeholders.
 */
export function normalizeSignature(text: string): string {
  return strip(meaningful(text)).slice(0, SIGNATURE_MAX);
}

/** The failure's code, signature and what might mitigate it. Deterministic: no I/O, no clock. */
export function classifyFailure(input: FailureInput): Failure {
  const all = lines(input.output);
  for (const rule of RULES) {
    if (rule.when && !rule.when(input)) continue;
    let signature: string;
    if (rule.pattern) {
      const pattern = rule.pattern;
      const line = all.find((l) => pattern.test(l));
      if (line === undefined) continue;
      signature = normalizeSignature(line);
    } else signature = normalizeSignature(input.output);
    if (signature === '') signature = input.timedOut ? 'timed out' : `exit code ${input.exitCode ?? 'none'}`;
    const hint = HINTS[rule.code];
    return hint ? { code: rule.code, signature, hint } : { code: rule.code, signature };
  }
  const signature = normalizeSignature(input.output) || `exit code ${input.exitCode ?? 'none'}`;
  return { code: 'unknown', signature, hint: HINTS.unknown! };
}

/** A `paths` entry as a matcher: a glob (`*`, `**`, `?`) or a directory/file prefix. */
function matcher(entry: string): (path: string) => boolean {
  const clean = entry.replace(/^\.\//, '').replace(/\/+$/, '');
  if (clean === '' || clean === '.' || clean === '**') return () => true;
  if (!/[*?]/.test(clean)) return (p) => p === clean || p.startsWith(`${clean}/`);
  let source = '';
  for (let i = 0; i < clean.length; i++) {
    const c = clean[i]!;
    if (c === '*' && clean[i + 1] === '*') {
      // `a/**/b` also matches `a/b`; a trailing `**` matches everything below.
      const slash = clean[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A glob naming a directory (`src/*`) covers what is inside it too.
  const re = new RegExp(`^${source}(?:/.*)?$`);
  return (p) => re.test(p);
}

/** A changed path as git prints it, or undefined for one that leaves the repository. */
function inside(path: string): string | undefined {
  const p = path.replace(/^\.\//, '');
  if (p === '' || p.startsWith('/') || /^[A-Za-z]:/.test(p) || p.split('/').includes('..')) return undefined;
  return p;
}

/**
 * The changed paths outside the task's `paths` (prefixes or globs), in the order given.
 * No allowed entries means the task is not restricted. A path that leaves the repository
 * (absolute, `..`) is always outside.
 */
export function scopeViolations(changed: readonly string[], allowed: readonly string[]): string[] {
  const matchers = allowed.map(matcher);
  return changed.filter((path) => {
    const p = inside(path);
    if (p === undefined) return true;
    return matchers.length > 0 && !matchers.some((m) => m(p));
  });
}
