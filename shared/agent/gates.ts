// Quality gates: the repository's own install/build/lint/test commands, run in the plan's
// order after the agent changed the code, summed up as the `test-report` artifact
// (CONTRACTS §7). A root whose install or build failed has its later checks skipped — a
// test run without its dependencies only adds noise — and every failed check carries its
// classified failure, so the run's error code and signature come from the same place.
import { isAbsolute, join } from 'node:path';
import { classifyFailure, type FailureCode } from './failures.js';
import { runCommand, type CommandResult } from './process.js';
import { relativePathProblem } from './toolchain/file.js';
import { BLOCKING_CHECKS, type CommandSpec, type ToolchainPlan } from './toolchain/types.js';

export const DEFAULT_GATE_TIMEOUT_MS = 20 * 60_000;
export const OUTPUT_TAIL_BYTES = 4096;

export interface GateOptions {
  /** For commands that name no timeout of their own. */
  readonly defaultTimeoutMs?: number;
  /** Output kept per command for classification (the report holds only the last 4 KiB). */
  readonly capBytes?: number;
  readonly onTick?: () => void;
  readonly tickMs?: number;
  readonly signal?: AbortSignal;
  /** Run only the commands with these names (e.g. ['test']); the others are left out of the report. */
  readonly only?: readonly string[];
  /** The commands' environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
}

export interface TestCounts {
  readonly passed: number | null;
  readonly failed: number | null;
  readonly skipped: number | null;
  /** Which runner's summary was read: node, vitest, jest, pytest, go, cargo, maven. */
  readonly format: string;
}

export interface Check {
  readonly name: string;
  /** argv joined for display (arguments with spaces quoted); never run through a shell. */
  readonly command: string;
  readonly cwd: string;
  readonly outcome: 'passed' | 'failed' | 'skipped';
  readonly exitCode: number | null;
  readonly durationMs: number;
  readonly timedOut: boolean;
  readonly passed: number | null;
  readonly failed: number | null;
  readonly skipped: number | null;
  readonly summary: string;
  /** The last ~4 KiB of the output, valid UTF-8. */
  readonly outputTail: string;
  readonly failure?: { readonly code: FailureCode; readonly signature: string };
}

export interface TestReport {
  /** The toolchains that were checked, e.g. 'node' or 'node+python'. */
  readonly toolchain: string;
  readonly checks: readonly Check[];
  /** No check failed (and none was skipped because of a failure). */
  readonly passed: boolean;
}

// eslint-disable-next-line no-control-regex -- ANSI escapes start with ESC
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
const int = (s: string | undefined) => (s === undefined ? 0 : Number.parseInt(s, 10));

/** Every match of a global `pattern` in `text`. */
function all(text: string, pattern: RegExp): RegExpMatchArray[] {
  return [...text.matchAll(pattern)];
}

/** `5 passed, 1 failed` / `3 passed | 1 skipped` word counts of one summary line. */
function words(line: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of line.matchAll(/(\d+) (passed|failed|skipped|todo|errors?|xfailed|xpassed|pending)\b/g)) {
    const key = m[2] === 'errors' ? 'error' : m[2]!;
    out[key] = (out[key] ?? 0) + int(m[1]);
  }
  return out;
}

type Parser = (text: string) => TestCounts | undefined;

const cargo: Parser = (text) => {
  // One line per test binary (unit, integration, doc tests): they add up.
  const lines = all(text, /^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/gm);
  if (lines.length === 0) return undefined;
  return { passed: sum(lines.map((m) => int(m[1]))), failed: sum(lines.map((m) => int(m[2]))), skipped: sum(lines.map((m) => int(m[3]))), format: 'cargo' };
};

const maven: Parser = (text) => {
  const lines = all(text, /Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)(.*)$/gm);
  if (lines.length === 0) return undefined;
  // Surefire prints a line per test class ("Time elapsed … -- in X") and one total per module.
  const totals = lines.filter((m) => !/Time elapsed/.test(m[5] ?? ''));
  const use = totals.length > 0 ? totals : lines;
  const run = sum(use.map((m) => int(m[1])));
  const failed = sum(use.map((m) => int(m[2]) + int(m[3])));
  const skipped = sum(use.map((m) => int(m[4])));
  return { passed: run - failed - skipped, failed, skipped, format: 'maven' };
};

const pytest: Parser = (text) => {
  const lines = all(text, /^=*\s*((?:\d+ \w+(?:, )?)+|no tests ran) in [\d.]+s\b.*$/gm);
  const last = lines.at(-1);
  if (!last) return undefined;
  const w = words(last[1]!);
  return {
    passed: (w.passed ?? 0) + (w.xpassed ?? 0),
    failed: (w.failed ?? 0) + (w.error ?? 0),
    skipped: (w.skipped ?? 0) + (w.xfailed ?? 0),
    format: 'pytest',
  };
};

const vitestOrJest: Parser = (text) => {
  // vitest: "      Tests  3 passed | 1 failed (4)"; jest: "Tests:       1 failed, 3 passed, 4 total".
  const last = all(text, /^\s*Tests(:?)\s+(\d+ .*)$/gm).at(-1);
  if (!last) return undefined;
  const w = words(last[2]!);
  if (Object.keys(w).length === 0) return undefined;
  return { passed: w.passed ?? 0, failed: w.failed ?? 0, skipped: (w.skipped ?? 0) + (w.todo ?? 0) + (w.pending ?? 0), format: last[1] === ':' ? 'jest' : 'vitest' };
};

const nodeTest: Parser = (text) => {
  // TAP ("# pass 3") or the spec reporter ("ℹ pass 3"); one block per `node --test` run.
  const count = (key: string) => sum(all(text, new RegExp(`^(?:#|ℹ) ${key} (\\d+)\\s*$`, 'gm')).map((m) => int(m[1])));
  if (!/^(?:#|ℹ) (?:pass|tests) \d+\s*$/m.test(text)) return undefined;
  return { passed: count('pass'), failed: count('fail') + count('cancelled'), skipped: count('skipped') + count('todo'), format: 'node' };
};

const goTest: Parser = (text) => {
  const fails = all(text, /^--- FAIL: /gm).length;
  const passes = all(text, /^--- PASS: /gm).length;
  const skips = all(text, /^--- SKIP: /gm).length;
  const packages = all(text, /^(ok|FAIL)\s+\S+\s+(?:[\d.]+s|\(cached\)|\[)/gm);
  if (fails + passes + skips + packages.length === 0) return undefined;
  // Without -v only failures are listed per test: passes are unknown, not zero.
  const verbose = passes + skips > 0;
  const buildFailed = fails === 0 && packages.some((m) => m[1] === 'FAIL');
  return { passed: verbose ? passes : null, failed: buildFailed ? null : fails, skipped: verbose ? skips : null, format: 'go' };
};

const PARSERS: readonly Parser[] = [cargo, maven, pytest, vitestOrJest, nodeTest, goTest];

/** The test counts a runner printed, or undefined when no known summary is in the output. */
export function parseTestCounts(output: string): TestCounts | undefined {
  const text = output.replace(ANSI, '');
  for (const parse of PARSERS) {
    const counts = parse(text);
    if (counts) return counts;
  }
  return undefined;
}

/** argv as a reader would type it; for display only. */
export function displayCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The last `bytes` of `text`, cut on a character boundary. */
export function tailOf(text: string, bytes = OUTPUT_TAIL_BYTES): string {
  const buf = Buffer.from(text);
  if (buf.length <= bytes) return text;
  let start = buf.length - bytes;
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}

function countsText(c: TestCounts | undefined): string | undefined {
  if (!c) return undefined;
  const parts = [
    c.passed !== null ? `${c.passed} passed` : undefined,
    c.failed !== null ? `${c.failed} failed` : undefined,
    c.skipped !== null && c.skipped > 0 ? `${c.skipped} skipped` : undefined,
  ].filter((p) => p !== undefined);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function summarize(r: CommandResult, ok: boolean, counts: TestCounts | undefined, code: FailureCode | undefined, timeoutMs: number): string {
  const how = r.timedOut
    ? `timed out after ${Math.round(timeoutMs / 1000)} s`
    : r.aborted
      ? 'aborted'
      : r.exitCode !== null
        ? `exit code ${r.exitCode}`
        : `killed by ${r.signal ?? 'a signal'}`;
  const numbers = countsText(counts);
  const head = ok ? 'passed' : `failed (${code ?? 'unknown'})`;
  return [head, numbers, how].filter((p) => p !== undefined).join(', ');
}

interface Block {
  readonly root: string;
  readonly toolchain: string | undefined;
  readonly reason: string;
}

const within = (path: string, root: string) => root === '.' || path === root || path.startsWith(`${root}/`);

/**
 * What a failed install/build takes down: its root, or its cwd when that lies above the
 * root — a workspace's one install, at the workspace root, serves every member below it.
 */
function blockRoot(spec: CommandSpec): string {
  const root = spec.root ?? spec.cwd;
  return within(root, spec.cwd) ? spec.cwd : root;
}

/** The failed install/build that makes `spec` pointless, if any. */
function blockedBy(spec: CommandSpec, blocks: readonly Block[]): Block | undefined {
  const root = spec.root ?? spec.cwd;
  return blocks.find((b) => (b.toolchain === undefined || spec.toolchain === undefined || b.toolchain === spec.toolchain) && within(root, b.root));
}

function skippedCheck(spec: CommandSpec, reason: string): Check {
  return {
    name: spec.name,
    command: displayCommand(spec.argv),
    cwd: spec.cwd,
    outcome: 'skipped',
    exitCode: null,
    durationMs: 0,
    timedOut: false,
    passed: null,
    failed: null,
    skipped: null,
    summary: `skipped: ${reason}`,
    outputTail: '',
  };
}

function refused(line: string): CommandResult {
  const output = `${line}\n`;
  return { exitCode: 127, signal: null, timedOut: false, aborted: false, durationMs: 0, output, outputBytes: Buffer.byteLength(output), truncated: false };
}

async function runCheck(repoDir: string, spec: CommandSpec, opts: GateOptions): Promise<Check> {
  const timeoutMs = spec.timeoutMs ?? opts.defaultTimeoutMs ?? DEFAULT_GATE_TIMEOUT_MS;
  const problem = isAbsolute(spec.cwd) ? 'must be relative to the repository' : relativePathProblem(spec.cwd);
  // A plan is data: one whose cwd leaves the repository is refused, not run elsewhere.
  const r: CommandResult = problem
    ? refused(`facteur: working directory not found: ${spec.cwd} (${problem})`)
    : await runCommand(spec.argv, {
        cwd: join(repoDir, spec.cwd),
        timeoutMs,
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.capBytes !== undefined ? { capBytes: opts.capBytes } : {}),
        ...(opts.onTick ? { onTick: opts.onTick } : {}),
        ...(opts.tickMs !== undefined ? { tickMs: opts.tickMs } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
  const ok = r.exitCode === 0 && !r.timedOut && !r.aborted;
  const counts = parseTestCounts(r.output);
  const failure = ok ? undefined : classifyFailure({ check: spec.name, output: r.output, exitCode: r.exitCode, timedOut: r.timedOut });
  return {
    name: spec.name,
    command: displayCommand(spec.argv),
    cwd: spec.cwd,
    outcome: ok ? 'passed' : 'failed',
    exitCode: r.exitCode,
    durationMs: r.durationMs,
    timedOut: r.timedOut,
    passed: counts?.passed ?? null,
    failed: counts?.failed ?? null,
    skipped: counts?.skipped ?? null,
    summary: summarize(r, ok, counts, failure?.code, timeoutMs),
    outputTail: tailOf(r.output),
    ...(failure ? { failure: { code: failure.code, signature: failure.signature } } : {}),
  };
}

function toolchainLabel(plan: ToolchainPlan): string {
  const names = [...new Set([...plan.detections.map((d) => d.toolchain), ...plan.commands.flatMap((c) => (c.toolchain ? [c.toolchain] : []))])];
  return names.length > 0 ? names.join('+') : 'none';
}

/** Runs the plan's commands in order in `repoDir` and reports every one of them. */
export async function runGates(repoDir: string, plan: ToolchainPlan, opts: GateOptions = {}): Promise<TestReport> {
  const only = opts.only ? new Set(opts.only) : undefined;
  const blocks: Block[] = [];
  const checks: Check[] = [];
  for (const spec of plan.commands) {
    if (only && !only.has(spec.name)) continue;
    if (opts.signal?.aborted) {
      checks.push(skippedCheck(spec, 'the gates were aborted'));
      continue;
    }
    const block = blockedBy(spec, blocks);
    if (block) {
      checks.push(skippedCheck(spec, block.reason));
      continue;
    }
    const check = await runCheck(repoDir, spec, opts);
    checks.push(check);
    if (check.outcome === 'failed' && BLOCKING_CHECKS.has(spec.name)) {
      blocks.push({ root: blockRoot(spec), toolchain: spec.toolchain, reason: `${spec.name} failed in ${spec.cwd}` });
    }
  }
  return { toolchain: toolchainLabel(plan), checks, passed: checks.every((c) => c.outcome === 'passed') };
}
