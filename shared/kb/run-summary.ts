// A finished run's output, summarized for a preference pair: what it changed (diff-stats),
// how its gates fared (test-report), what it said about itself (reflection), how it ended.
// Deterministic (the same run gives the same text) and capped, so a pair's size is bounded
// whatever an agent reported.
const CAP = 4000;
const FILES_LISTED = 20;

export interface RunFacts {
  readonly attempt: number;
  readonly status: string;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly outputRef: string | null;
  /** The latest artifact of each kind the run reported: `diff-stats`, `test-report`, `reflection`. */
  readonly artifacts: Readonly<Record<string, unknown>>;
}

const obj = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
const str = (v: unknown, max: number): string | undefined => (typeof v === 'string' && v.trim() ? v.trim().slice(0, max) : undefined);

function diffLine(d: Record<string, unknown>): string {
  const files = Array.isArray(d.files) ? d.files.map(obj).filter((f): f is Record<string, unknown> => !!f) : [];
  const paths = files.slice(0, FILES_LISTED).map((f) => String(f.path ?? '?'));
  const more = files.length > FILES_LISTED ? ` and ${files.length - FILES_LISTED} more` : '';
  return `changed ${files.length} file(s) (+${Number(d.added) || 0} -${Number(d.removed) || 0}): ${paths.join(', ')}${more}`;
}

function testLine(t: Record<string, unknown>): string {
  const checks = Array.isArray(t.checks) ? t.checks.map(obj).filter((c): c is Record<string, unknown> => !!c) : [];
  const verdict = t.passed === true ? 'passed' : t.passed === false ? 'failed' : 'ran';
  const each = checks.slice(0, 10).map((c) => `${String(c.name ?? '?')} ${c.exitCode === 0 ? 'ok' : `exit ${String(c.exitCode)}`}${str(c.summary, 200) ? ` (${str(c.summary, 200)})` : ''}`);
  return `tests ${verdict}${t.toolchain ? ` [${String(t.toolchain).slice(0, 100)}]` : ''}: ${each.join('; ') || 'no checks'}`;
}

function reflectionLine(r: unknown): string | undefined {
  const o = obj(r);
  const text = typeof r === 'string' ? r : o ? (str(o.text, 1500) ?? str(o.summary, 1500) ?? str(o.lesson, 1500) ?? str(o.content, 1500) ?? JSON.stringify(o)) : undefined;
  return text ? `reflection: ${text.slice(0, 1500)}` : undefined;
}

export function summarizeRun(f: RunFacts | undefined): string {
  if (!f) return '(run not found)';
  const lines = [`attempt ${f.attempt} ${f.status}`];
  const diff = obj(f.artifacts['diff-stats']);
  if (diff) lines.push(diffLine(diff));
  const tests = obj(f.artifacts['test-report']);
  if (tests) lines.push(testLine(tests));
  const reflection = reflectionLine(f.artifacts.reflection);
  if (reflection) lines.push(reflection);
  if (f.errorCode || f.errorMessage) lines.push(`error ${f.errorCode ?? 'unknown'}: ${(f.errorMessage ?? '').slice(0, 1000)}`);
  if (f.outputRef) lines.push(`output: ${f.outputRef.slice(0, 500)}`);
  return lines.join('\n').slice(0, CAP);
}
