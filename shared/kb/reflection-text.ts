// What a reflection says, as text: Facteur's own for a finished run (composed from what the
// run reported), and the cap every stored reflection is held to.
//
// The composition is deterministic — the same run gives the same bytes (no clock, no
// ordering left to the database: paths and checks are sorted or kept in reported order), so
// a reflection can be compared, digested and re-derived. Every value is plain text: control
// characters and lone surrogates are dropped, nothing from an artifact is ever interpreted.
import { createHash } from 'node:crypto';

/** What Facteur knows of a finished run when it reflects on it. */
export interface RunFacts {
  readonly stage: string;
  readonly outcome: string;
  readonly attempt: number;
  readonly repository: string;
  readonly taskKey: string;
  readonly taskTitle: string;
  readonly errorCode: string | null;
  /** The error message without its `[signature: …]` suffix. */
  readonly errorMessage: string | null;
  readonly signature: string | null;
  readonly review: { readonly verdict: string | null; readonly summary: string | null } | undefined;
  readonly tests: { readonly toolchain: string | null; readonly passed: boolean | null; readonly checks: readonly CheckFacts[] } | undefined;
  readonly paths: readonly string[];
}

export interface CheckFacts {
  readonly name: string;
  readonly exitCode: number | null;
  readonly summary: string;
}

/** The marker a cut reflection ends with (visible to a reader and to the agent given it). */
export const TRUNCATION_MARKER = '[… truncated by Facteur:';

const PATHS_IN_TEXT = 20;
const CHECKS_IN_TEXT = 10;
const FIELD_CHARS = 600;

/** Plain, well-formed text: NUL and other control characters (but newlines and tabs) and lone surrogates removed. */
export function plain(s: string): string {
  return s
    .replace(/\r\n?/g, '\n')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '')
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '');
}

const oneLine = (s: string, max = FIELD_CHARS) => {
  const t = plain(s).replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

/** `…message [signature: line]` → the message and the signature (facteur-agent's form, shared/agent/cli.ts). */
export function splitSignature(message: string | null): { message: string | null; signature: string | null } {
  if (message === null) return { message: null, signature: null };
  const m = /^([\s\S]*?)\s*\[signature: (.*)\]\s*$/.exec(message);
  return m ? { message: m[1]!, signature: m[2]! } : { message, signature: null };
}

/** Facteur's reflection on a run, line by line; absent facts leave their line out. */
export function composeRunReflection(f: RunFacts): string {
  const lines = [`Run of ${oneLine(f.stage)} task ${oneLine(f.taskKey)} "${oneLine(f.taskTitle)}" in ${oneLine(f.repository)}: ${oneLine(f.outcome)} (attempt ${f.attempt}).`];
  if (f.errorCode || f.errorMessage) lines.push(`Failure: ${[f.errorCode, f.errorMessage].filter((x) => x).map((x) => oneLine(x!)).join(': ')}`);
  if (f.signature) lines.push(`Failure signature: ${oneLine(f.signature)}`);
  if (f.review && (f.review.verdict || f.review.summary)) {
    lines.push(`Review: ${oneLine(f.review.verdict ?? 'no verdict')}${f.review.summary ? ` — ${oneLine(f.review.summary)}` : ''}`);
  }
  if (f.tests) {
    const verdict = f.tests.passed === null ? 'ran' : f.tests.passed ? 'passed' : 'failed';
    lines.push(`Tests${f.tests.toolchain ? ` (${oneLine(f.tests.toolchain, 100)})` : ''}: ${verdict}.`);
    for (const c of f.tests.checks.slice(0, CHECKS_IN_TEXT)) {
      lines.push(`- ${oneLine(c.name, 100)}${c.exitCode === null ? '' : ` (exit ${c.exitCode})`}: ${oneLine(c.summary, 300)}`);
    }
    if (f.tests.checks.length > CHECKS_IN_TEXT) lines.push(`- and ${f.tests.checks.length - CHECKS_IN_TEXT} more checks`);
  }
  if (f.paths.length) {
    const shown = f.paths.slice(0, PATHS_IN_TEXT).map((p) => oneLine(p, 300));
    lines.push(`Paths: ${shown.join(', ')}${f.paths.length > PATHS_IN_TEXT ? ` (and ${f.paths.length - PATHS_IN_TEXT} more)` : ''}`);
  }
  return lines.join('\n');
}

export interface Capped {
  readonly content: string;
  readonly truncated: boolean;
  /** sha256 of the stored content: two reflections saying the same thing have the same digest. */
  readonly digest: string;
}

/**
 * The text within `maxBytes` UTF-8 bytes, marker included, cut at a character boundary.
 * `fullBytes` is the original's size when only a prefix of it was read (a 5 MB artifact is
 * not loaded whole: the marker still says how much there was).
 */
export function capText(text: string, maxBytes: number, fullBytes?: number): Capped {
  const clean = plain(text);
  const bytes = Buffer.from(clean, 'utf8');
  const total = Math.max(fullBytes ?? 0, bytes.length);
  if (total <= maxBytes && bytes.length <= maxBytes) return { content: clean, truncated: false, digest: digest(clean) };
  const marker = (kept: number) => `\n${TRUNCATION_MARKER} ${kept} of ${total} bytes kept]`;
  let keep = Math.max(0, maxBytes - Buffer.byteLength(marker(maxBytes)));
  // back off to the start of a UTF-8 sequence, so the cut never splits a character
  while (keep > 0 && keep < bytes.length && (bytes[keep]! & 0xc0) === 0x80) keep--;
  const content = bytes.subarray(0, keep).toString('utf8') + marker(keep);
  return { content, truncated: true, digest: digest(content) };
}

function digest(s: string): string {
  return `sha256:${createHash('sha256').update(s, 'utf8').digest('hex')}`;
}
