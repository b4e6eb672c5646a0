// validatePlan: the boundary every plan crosses, whatever its source. Each top-level field
// and each task is checked on its own so one bad field does not hide the others: the
// caller gets every problem at once, in a single ValidationError.
import type { z } from 'zod';
import type { Issue } from '../errors/index.js';
import { zodIssues } from '../validation/index.js';
import { graphIssues, invalidPlan, type GraphNode } from './graph.js';
import {
  criteriaSchema,
  milestonesSchema,
  questionsSchema,
  risksSchema,
  taskGraphViewSchema,
  taskSchema,
  tasksSchema,
  type Plan,
  type PlanTask,
  type Risk,
} from './schema.js';
import { deepFreeze } from '../validation/freeze.js';

export function validatePlan(input: unknown): Plan {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalidPlan([{ path: '(root)', message: 'a plan must be an object' }]);
  }
  const raw = input as Record<string, unknown>;
  const issues: Issue[] = [];
  const milestones = part(milestonesSchema, raw.milestones, 'milestones', issues);
  const rawTasks = part(tasksSchema, raw.tasks, 'tasks', issues) ?? [];
  const acceptanceCriteria = part(criteriaSchema, raw.acceptanceCriteria, 'acceptanceCriteria', issues);
  const risks = part(risksSchema, raw.risks, 'risks', issues);
  const openQuestions = part(questionsSchema, raw.openQuestions, 'openQuestions', issues);

  const tasks: PlanTask[] = [];
  const nodes: GraphNode[] = [];
  const declared = new Set<string>();
  const criteriaIssues: Issue[] = [];
  rawTasks.forEach((t, index) => {
    const full = taskSchema.safeParse(t);
    if (full.success) tasks.push(full.data);
    else issues.push(...zodIssues(full.error, `tasks.${index}`));
    const key = (t as { key?: unknown } | null)?.key;
    if (typeof key === 'string') declared.add(key.trim());
    const view = full.success ? full.data : taskGraphViewSchema.safeParse(t).data;
    if (!view) return;
    nodes.push({ key: view.key, index, dependsOn: view.dependsOn });
    if (view.acceptanceCriteria === undefined || (Array.isArray(view.acceptanceCriteria) && view.acceptanceCriteria.length === 0)) {
      criteriaIssues.push({ path: `tasks.${index}.acceptanceCriteria`, message: `task "${view.key}" has no acceptance criteria` });
    }
  });
  issues.push(...criteriaIssues, ...graphIssues(nodes, declared));

  // Built field by field so the serialized form is the same whether or not `id` was given.
  const filledRisks: Risk[] | undefined = risks?.map((r, i) => ({
    id: r.id ?? `R${i + 1}`,
    description: r.description,
    likelihood: r.likelihood,
    impact: r.impact,
    mitigation: r.mitigation,
  }));
  issues.push(...duplicateIds(filledRisks ?? [], 'risks', 'risk'), ...duplicateIds(milestones ?? [], 'milestones', 'milestone'));
  if (milestones) {
    const known = new Set(milestones.map((m) => m.id));
    rawTasks.forEach((t, index) => {
      const m = taskSchema.shape.milestone.safeParse((t as { milestone?: unknown } | null)?.milestone);
      if (m.success && m.data !== undefined && !known.has(m.data)) {
        const key = (t as { key?: unknown }).key;
        issues.push({ path: `tasks.${index}.milestone`, message: `task ${JSON.stringify(key)} names unknown milestone "${m.data}"` });
      }
    });
  }

  if (issues.length > 0 || !milestones || !acceptanceCriteria || !filledRisks || !openQuestions) throw invalidPlan(inPlanOrder(issues));
  return deepFreeze({ milestones, tasks, acceptanceCriteria, risks: filledRisks, openQuestions });
}

const FIELD_ORDER = ['(root)', 'milestones', 'tasks', 'acceptanceCriteria', 'risks', 'openQuestions'];

/** Problems grouped the way the plan reads: by field, then task by task (the sort is stable). */
function inPlanOrder(issues: readonly Issue[]): Issue[] {
  const rank = (i: Issue) => {
    const [field = '', index = '-1'] = i.path.split('.');
    return [FIELD_ORDER.indexOf(field), /^\d+$/.test(index) ? Number(index) : -1] as const;
  };
  return [...issues].sort((a, b) => {
    const [fa, ia] = rank(a);
    const [fb, ib] = rank(b);
    return fa - fb || ia - ib;
  });
}

function part<T>(schema: z.ZodType<T>, value: unknown, path: string, issues: Issue[]): T | undefined {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  issues.push(...zodIssues(r.error, path));
  return undefined;
}

function duplicateIds(items: readonly { id: string }[], path: string, what: string): Issue[] {
  const first = new Map<string, number>();
  const issues: Issue[] = [];
  items.forEach((item, i) => {
    const at = first.get(item.id);
    if (at === undefined) first.set(item.id, i);
    else issues.push({ path: `${path}.${i}.id`, message: `duplicate ${what} id "${item.id}" (${path}.${at} and ${path}.${i})` });
  });
  return issues;
}

