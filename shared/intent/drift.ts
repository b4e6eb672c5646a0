// Goal drift: does a piece of work (a plan task, an implementation run's change) still serve
// the idea's intent? Deterministic checks come first, because they explain themselves:
//   non_goal    a non-goal's distinctive terms appear in the work's text
//   constraint  the work touches paths outside the scope a constraint names, or inside one
//               a constraint forbids ("do not touch migrations/")
// and only then similarity: the cosine between the work's text and the intent's goal under
// the embedded local embedder (shared/kb/embed/local.ts), flagged below a threshold. The
// local embedder is used whatever model the KB is configured with, so the verdict is the same
// on every instance, offline, and does not move when the KB's model changes.
import picomatch from 'picomatch';
import { embedLocal, words } from '../kb/embed/local.js';

export interface DriftIntent {
  readonly title: string;
  readonly goal: string;
  readonly nonGoals: readonly string[];
  readonly constraints: readonly string[];
  readonly acceptanceCriteria: readonly string[];
}

/** One piece of work: its name (task key), its text, the paths it names or touched. */
export interface DriftSubject {
  readonly key: string;
  readonly text: string;
  readonly paths: readonly string[];
}

export type DriftKind = 'non_goal' | 'constraint' | 'similarity';

export interface DriftProblem {
  readonly key: string;
  readonly kind: DriftKind;
  readonly message: string;
  readonly details: Record<string, unknown>;
}

export interface DriftOptions {
  /** Below this cosine between the work's text and the goal, the work is said to drift. */
  readonly minSimilarity: number;
}

/** Words shorter than this are too common to say a non-goal is being pursued. */
const MIN_TERM = 4;

/**
 * A non-goal's distinctive terms: its words of at least four letters that the goal, the
 * title and the acceptance criteria do not use (a term they share says nothing about drift).
 */
export function nonGoalTerms(intent: DriftIntent, nonGoal: string): string[] {
  const wanted = new Set(words([intent.title, intent.goal, ...intent.acceptanceCriteria].join('\n')));
  return [...new Set(words(nonGoal))].filter((w) => w.length >= MIN_TERM && !wanted.has(w)).sort();
}

/** A non-goal is pursued when its terms appear: all of them up to two, and at least two beyond. */
export function pursuedNonGoal(intent: DriftIntent, nonGoal: string, text: string): string[] | undefined {
  const terms = nonGoalTerms(intent, nonGoal);
  if (terms.length === 0) return undefined;
  const have = new Set(words(text));
  const hit = terms.filter((t) => have.has(t));
  return hit.length >= Math.min(2, terms.length) ? hit : undefined;
}

const NEGATION = /\b(not|never|no|don'?t|do not|must not|avoid|without|outside|except)\b/i;
/** A path-like token: has a slash or a glob character and no spaces (`src/pay/`, `*.sql`). */
const PATH_TOKEN = /(?:^|[\s`'"(])((?:[A-Za-z0-9_.*-]+\/)+[A-Za-z0-9_.*-]*|\*\*?\/?[A-Za-z0-9_.*/-]*|[A-Za-z0-9_-]*\*[A-Za-z0-9_.*-]*)(?=$|[\s`'"),;:])/g;

export interface ConstraintScopes {
  /** Paths some constraint limits the work to (empty: no such constraint). */
  readonly allowed: readonly string[];
  /** Paths some constraint forbids. */
  readonly forbidden: readonly string[];
}

/** The path scopes the constraints name: a negated constraint forbids its paths, another allows them. */
export function constraintScopes(constraints: readonly string[]): ConstraintScopes {
  const allowed: string[] = [];
  const forbidden: string[] = [];
  for (const c of constraints) {
    const paths = [...c.matchAll(PATH_TOKEN)].map((m) => m[1]!.replace(/^\.\//, '')).filter((p) => p !== '' && !p.includes('..') && !p.startsWith('/') && !/^https?:/.test(p));
    if (paths.length === 0) continue;
    (NEGATION.test(c) ? forbidden : allowed).push(...paths);
  }
  return { allowed: [...new Set(allowed)].sort(), forbidden: [...new Set(forbidden)].sort() };
}

function globsOf(paths: readonly string[]): (path: string) => boolean {
  const globs = paths.flatMap((p) => {
    const clean = p.replace(/\/+$/, '');
    return clean === '' ? [] : [clean, `${clean}/**`];
  });
  if (globs.length === 0) return () => false;
  const m = picomatch(globs, { dot: true });
  return (p) => m(p.replace(/^\.\//, '').replace(/\/+$/, ''));
}

export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * (b[i] ?? 0);
  return dot;
}

/** What the goal is, as one text: title, goal and acceptance criteria. */
export function goalText(intent: DriftIntent): string {
  return [intent.title, intent.goal, ...intent.acceptanceCriteria].join('\n');
}

/** Every drift problem of the subjects, in their order; deterministic checks before similarity. */
export function findDrift(intent: DriftIntent, subjects: readonly DriftSubject[], opts: DriftOptions): DriftProblem[] {
  const out: DriftProblem[] = [];
  const scopes = constraintScopes(intent.constraints);
  const inAllowed = globsOf(scopes.allowed);
  const inForbidden = globsOf(scopes.forbidden);
  const goal = intent.goal.trim() ? embedLocal(goalText(intent)) : undefined;
  for (const s of subjects) {
    const before = out.length;
    for (const nonGoal of intent.nonGoals) {
      const hit = pursuedNonGoal(intent, nonGoal, s.text);
      if (hit) out.push({ key: s.key, kind: 'non_goal', message: `${s.key} pursues the non-goal "${nonGoal.slice(0, 200)}" (${hit.join(', ')})`, details: { nonGoal, terms: hit } });
    }
    const outside = scopes.allowed.length ? s.paths.filter((p) => !inAllowed(p)) : [];
    const forbidden = s.paths.filter((p) => inForbidden(p));
    if (outside.length || forbidden.length) {
      out.push({
        key: s.key, kind: 'constraint',
        message: `${s.key} touches ${[...new Set([...outside, ...forbidden])].slice(0, 10).join(', ')}: ${outside.length ? `outside the constraints' scope (${scopes.allowed.join(', ')})` : ''}${outside.length && forbidden.length ? '; ' : ''}${forbidden.length ? `inside a path a constraint forbids (${scopes.forbidden.join(', ')})` : ''}`,
        details: { outside: outside.slice(0, 50), forbidden: forbidden.slice(0, 50), allowed: scopes.allowed, forbiddenScopes: scopes.forbidden },
      });
    }
    // similarity only where the deterministic checks found nothing: they already say why
    if (out.length === before && goal && s.text.trim()) {
      const similarity = Math.round(cosine(goal, embedLocal(s.text)) * 1000) / 1000;
      if (similarity < opts.minSimilarity) {
        out.push({ key: s.key, kind: 'similarity', message: `${s.key} shares little with the goal (similarity ${similarity} < ${opts.minSimilarity})`, details: { similarity, threshold: opts.minSimilarity } });
      }
    }
  }
  return out;
}
