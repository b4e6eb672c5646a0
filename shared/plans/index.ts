// Plans: the artifact of a planning run, from whatever the agent wrote (a plan object,
// JSON text, or Markdown) to one validated, frozen Plan. Pure logic, no database.
import { ValidationError } from '../errors/index.js';
import { normalizeMarkdownPlan } from './markdown.js';
import type { Plan } from './schema.js';
import { validatePlan } from './validate.js';

export { findCycles, topologicalOrder, type Cycle } from './graph.js';
export { normalizeMarkdownPlan, type NormalizedPlan } from './markdown.js';
export {
  ARTIFACT_KINDS,
  DEPENDENCY_TYPES,
  LEVELS,
  MAX_TASKS,
  TASK_KEY,
  type ArtifactKind,
  type Dependency,
  type DependencyType,
  type Level,
  type Milestone,
  type Plan,
  type PlanTask,
  type Risk,
} from './schema.js';
export { validatePlan } from './validate.js';

export interface ParsedPlan {
  readonly plan: Plan;
  readonly decisions: readonly string[];
  readonly source: 'json' | 'markdown';
}

/**
 * A plan artifact as a run publishes it: a plan object, JSON text, Markdown text, or
 * `{markdown}`. Markdown is normalized first (its guesses returned as `decisions`), then
 * everything is validated the same way. Throws ValidationError (`invalid_plan`).
 */
export function parsePlanArtifact(data: unknown): ParsedPlan {
  if (typeof data === 'string') return parseText(data);
  if (isRecord(data) && typeof data.markdown === 'string' && !('tasks' in data)) return fromMarkdown(data.markdown, []);
  return Object.freeze({ plan: validatePlan(data), decisions: Object.freeze([]), source: 'json' });
}

function parseText(text: string): ParsedPlan {
  const t = text.replace(/^\uFEFF/, '').trim();
  if (!/^["{[]/.test(t)) return fromMarkdown(text, []);
  let value: unknown;
  try {
    value = JSON.parse(t);
  } catch (err) {
    // Agents open Markdown plans with `[WIP]` or `"Quoted" titles`; JSON it is not.
    const why = (err as Error).message.replace(/\s+/g, ' ');
    if (t.startsWith('"') || looksLikeMarkdown(t)) return fromMarkdown(text, [`the text is not valid JSON (${why}); read as Markdown`]);
    throw new ValidationError(`invalid plan: (root): not valid JSON: ${why}`, [{ path: '(root)', message: `not valid JSON: ${why}` }], 'invalid_plan', {
      cause: err,
    });
  }
  if (typeof value === 'string') return fromMarkdown(value, []);
  return parsePlanArtifact(value);
}

function fromMarkdown(markdown: string, before: readonly string[]): ParsedPlan {
  const { plan, decisions } = normalizeMarkdownPlan(markdown);
  return Object.freeze({ plan: validatePlan(plan), decisions: Object.freeze([...before, ...decisions]), source: 'markdown' });
}

function looksLikeMarkdown(text: string): boolean {
  return /^\s{0,3}(?:#{1,6}\s|[-*+]\s|\d{1,4}[.)]\s)/m.test(text);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
