// The Plan: the artifact of a planning run (CONTRACTS §6), checked here before any of its
// tasks is scheduled.
//
// Glossary
//   task        one unit of agent work. Its `key` becomes a database key and part of
//               Kubernetes names, hence the narrow alphabet of TASK_KEY.
//   dependency  "A depends on B": A waits for B. The type says for what: `hard` (B
//               succeeded), `soft` (B finished, whatever the outcome), `approval` (a human
//               approved B), `artifact` (B published an artifact of the named kind).
//   milestone   a named group of tasks, for reporting.
//   risk        an entry of the plan's risk register; a plan without one is rejected.
import { z } from 'zod';
import { gitBranchProblem } from '../validation/refs.js';

export const TASK_KEY = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const LEVELS = ['low', 'medium', 'high'] as const;
export const DEPENDENCY_TYPES = ['hard', 'soft', 'approval', 'artifact'] as const;
/** The artifact kinds a run can publish (CONTRACTS §7). */
import { ARTIFACT_KINDS } from '../callbacks/artifact-kinds.js';

export { ARTIFACT_KINDS };
export const MAX_TASKS = 500;

export type Level = (typeof LEVELS)[number];
export type DependencyType = (typeof DEPENDENCY_TYPES)[number];
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

export interface Dependency {
  readonly key: string;
  readonly type: DependencyType;
  /** Only on an `artifact` dependency: the kind of artifact waited for. */
  readonly artifact?: ArtifactKind;
}

export interface PlanTask {
  readonly key: string;
  readonly title: string;
  readonly description: string;
  readonly dependsOn: readonly Dependency[];
  readonly acceptanceCriteria: readonly string[];
  readonly paths: readonly string[];
  readonly risk: Level;
  readonly milestone?: string;
}

export interface Milestone {
  readonly id: string;
  readonly title: string;
}

export interface Risk {
  readonly id: string;
  readonly description: string;
  readonly likelihood: Level;
  readonly impact: Level;
  readonly mitigation: string;
}

export interface Plan {
  readonly milestones: readonly Milestone[];
  readonly tasks: readonly PlanTask[];
  readonly acceptanceCriteria: readonly string[];
  readonly risks: readonly Risk[];
  readonly openQuestions: readonly string[];
}

// A missing field and a wrong type read differently to whoever fixes the plan.
const required = (what: string) => ({
  error: (iss: { input?: unknown }) => (iss.input === undefined ? 'is required' : `must be ${what}`),
});
const text = (max: number) =>
  z
    .string(required('a string'))
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`);
const texts = (max: number, each: number) =>
  z.array(text(each), required('an array of strings')).max(max, `must have at most ${max} items`).default([]);
const level = z.enum(LEVELS, { error: 'must be one of low, medium, high' });

const KEY_RULE = 'must start with a letter or digit, then letters, digits, ".", "_", ":" or "-" (at most 128 characters)';
export const taskKeySchema = z
  .string(required('a string'))
  .trim()
  .regex(TASK_KEY, KEY_RULE)
  // the key names the task's branch (`facteur/<idea>/<key>`): refused here, not at dispatch
  .superRefine((key, ctx) => {
    if (!TASK_KEY.test(key)) return;
    const problem = gitBranchProblem(`facteur/idea/${key}`);
    if (problem) ctx.addIssue({ code: 'custom', message: `cannot name a git branch: ${problem}` });
  });

// A bare string is the short form of a hard dependency.
export const dependencySchema = z.preprocess(
  (v) => (typeof v === 'string' ? { key: v } : v),
  z
    .object(
      {
        key: text(128),
        type: z.enum(DEPENDENCY_TYPES, { error: 'must be one of hard, soft, approval, artifact' }).default('hard'),
        artifact: z.enum(ARTIFACT_KINDS, { error: `must be one of ${ARTIFACT_KINDS.join(', ')}` }).optional(),
      },
      { error: 'must be a task key or an object {key, type}' },
    )
    .superRefine((d, ctx) => {
      if (d.type === 'artifact' && d.artifact === undefined) {
        ctx.addIssue({ code: 'custom', path: ['artifact'], message: 'an artifact dependency must name the artifact kind' });
      }
      if (d.type !== 'artifact' && d.artifact !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['artifact'], message: 'is only allowed on a dependency of type "artifact"' });
      }
    }),
);

export const taskSchema = z.object(
  {
    key: taskKeySchema,
    title: text(200),
    description: z.string('must be a string').trim().max(20_000, 'must be at most 20000 characters').default(''),
    dependsOn: z.array(dependencySchema, required('an array')).max(100, 'must have at most 100 items').default([]),
    acceptanceCriteria: texts(50, 1000),
    paths: texts(200, 500),
    risk: level.default('low'),
    milestone: text(64).optional(),
  },
  { error: 'a task must be an object' },
);

/**
 * What the graph checks need of a task. A task that fails `taskSchema` for another reason
 * (say a bad `risk`) still takes part in them, so one pass reports every problem.
 */
export const taskGraphViewSchema = z.object({
  key: taskKeySchema,
  dependsOn: z.array(dependencySchema).default([]),
  acceptanceCriteria: z.unknown(),
});

export const milestonesSchema = z
  .array(z.object({ id: text(64), title: text(200) }, { error: 'a milestone must be an object {id, title}' }), required('an array'))
  .max(100, 'must have at most 100 items')
  .default([]);

const NO_TASKS = 'the plan has no tasks';
export const tasksSchema = z
  .array(z.unknown(), { error: (iss) => (iss.input === undefined ? NO_TASKS : 'must be an array of tasks') })
  .min(1, NO_TASKS)
  .max(MAX_TASKS, `must have at most ${MAX_TASKS} tasks`);

const NO_RISKS = 'the plan has no risk register: list at least one risk';
export const risksSchema = z
  .array(
    z.object(
      {
        // Filled as R1, R2… by position when absent.
        id: text(64).optional(),
        description: text(2000),
        likelihood: level,
        impact: level,
        mitigation: text(2000),
      },
      { error: 'a risk must be an object {id, description, likelihood, impact, mitigation}' },
    ),
    { error: (iss) => (iss.input === undefined ? NO_RISKS : 'must be an array of risks') },
  )
  .min(1, NO_RISKS)
  .max(100, 'must have at most 100 items');

export const criteriaSchema = texts(100, 1000);
export const questionsSchema = texts(100, 2000);
