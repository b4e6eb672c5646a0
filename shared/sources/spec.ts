// An Idea Spec from where people write ideas (a GitHub issue, Discord's `/idea`), validated by
// the same schema as a `codex.intent` Idea Spec, with every problem said in the words of the
// place it came from (the template's headings, the command's options).
import { ideaSpecSchema, type IdeaSpec } from '../intent/index.js';
import { badText } from '../validation/index.js';
import { plainLabelProblem } from '../validation/refs.js';
import type { FieldProblem } from './template.js';

export interface SpecDraft {
  readonly title: string;
  readonly goal: string;
  readonly constraints: readonly string[];
  readonly successMetrics: readonly string[];
  readonly nonGoals: readonly string[];
  readonly repository: string;
  readonly labels: readonly string[];
  readonly initiator?: { readonly kind: 'github' | 'discord'; readonly login: string };
  readonly source: { readonly type: 'github_issue' | 'discord'; readonly ref: string };
}

export type SpecResult = { readonly spec: IdeaSpec; readonly problems?: undefined } | { readonly spec?: undefined; readonly problems: readonly FieldProblem[] };

/** What people call the spec's fields where they wrote them: `{goal: 'Goal', …}`. */
export type FieldNames = Readonly<Record<'title' | 'goal' | 'constraints' | 'successMetrics' | 'nonGoals' | 'repository' | 'labels', string>>;

/** Labels as a tracker has them, reduced to those an Idea Spec takes (no control characters or braces), at most 30. */
export function usableLabels(labels: readonly string[]): string[] {
  return [...new Set(labels.map((l) => l.trim()).filter((l) => l.length > 0 && l.length <= 100 && !plainLabelProblem(l) && !badText(l)))].slice(0, 30);
}

export function specFrom(draft: SpecDraft, names: FieldNames): SpecResult {
  const problems: FieldProblem[] = [];
  // NUL and lone surrogates cannot be stored (PostgreSQL text): said, not a database error
  const text = { title: [draft.title], goal: [draft.goal], constraints: draft.constraints, successMetrics: draft.successMetrics, nonGoals: draft.nonGoals, repository: [draft.repository] };
  for (const [key, values] of Object.entries(text)) {
    const bad = values.map((v) => badText(v)).find(Boolean);
    if (bad) problems.push({ field: names[key as keyof FieldNames], message: `contains ${bad.replace(/ are not (accepted|valid Unicode)$/, '')}, which cannot be stored` });
  }
  const parsed = ideaSpecSchema.safeParse({
    title: draft.title, goal: draft.goal, constraints: draft.constraints, successMetrics: draft.successMetrics, nonGoals: draft.nonGoals,
    repository: draft.repository, labels: draft.labels, source: draft.source, ...(draft.initiator ? { initiator: draft.initiator } : {}),
  });
  if (parsed.success && problems.length === 0) return { spec: parsed.data };
  const unstorable = new Set(problems.map((p) => p.field));
  for (const issue of parsed.success ? [] : parsed.error.issues) {
    const [key, index] = issue.path;
    const field = names[key as keyof FieldNames] ?? String(key ?? 'body');
    if (unstorable.has(field)) continue;
    problems.push({ field, message: typeof index === 'number' ? `item ${index + 1}: ${issue.message}` : issue.message });
  }
  return { problems };
}
