// The state machines of ideas, tasks and runs, as data. Migration 0003 holds the same
// tables (codex_kb.*_transitions) and a trigger refuses any other move, so the two can
// never drift: a test compares them row for row.
//
// Glossary. An *idea* is what a human asked for (an Idea Spec or a GitHub issue). A *task*
// is one unit of work of a stage for an idea (its plan's implementation tasks, a review, an
// integration, a deploy). A *run* is one attempt of a task: one Argo Workflow.

export const IDEA_STATUSES = [
  'registered', 'planning', 'plan_ready', 'awaiting_dependencies', 'running_tasks', 'qa_review',
  'integration', 'deployment', 'monitoring', 'completed', 'remediation', 'paused',
  'awaiting_approval', 'blocked', 'cancelled', 'failed',
] as const;
export type IdeaStatus = (typeof IDEA_STATUSES)[number];

export const TASK_STATES = [
  'pending', 'ready', 'queued', 'submitting', 'running', 'succeeded', 'failed',
  'awaiting_approval', 'blocked', 'paused', 'cancelled',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const RUN_STATUSES = ['queued', 'submitting', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const STAGES = ['planning', 'implementation', 'review', 'integration', 'deploy'] as const;
export type Stage = (typeof STAGES)[number];

const side: IdeaStatus[] = ['paused', 'cancelled', 'failed', 'blocked', 'awaiting_approval'];

export const IDEA_TRANSITIONS: Readonly<Record<IdeaStatus, readonly IdeaStatus[]>> = {
  registered: ['planning', ...side],
  planning: ['plan_ready', ...side],
  plan_ready: ['awaiting_dependencies', 'running_tasks', ...side],
  awaiting_dependencies: ['running_tasks', ...side],
  running_tasks: ['qa_review', ...side],
  qa_review: ['running_tasks', 'integration', ...side],
  integration: ['deployment', ...side],
  deployment: ['monitoring', ...side],
  monitoring: ['completed', 'remediation', ...side],
  remediation: ['running_tasks', ...side],
  // resume / approval / retry go back to where the idea was (ideas.resume_status)
  paused: ['registered', 'planning', 'plan_ready', 'awaiting_dependencies', 'running_tasks', 'qa_review',
    'integration', 'deployment', 'monitoring', 'remediation', 'awaiting_approval', 'blocked', 'cancelled'],
  awaiting_approval: ['registered', 'planning', 'plan_ready', 'awaiting_dependencies', 'running_tasks',
    'qa_review', 'integration', 'deployment', 'remediation', 'paused', 'blocked', 'cancelled', 'failed'],
  blocked: ['registered', 'planning', 'plan_ready', 'awaiting_dependencies', 'running_tasks', 'qa_review',
    'integration', 'deployment', 'monitoring', 'remediation', 'paused', 'cancelled', 'failed'],
  completed: [],
  cancelled: [],
  failed: [],
};

export const TASK_TRANSITIONS: Readonly<Record<TaskState, readonly TaskState[]>> = {
  pending: ['ready', 'awaiting_approval', 'blocked', 'paused', 'cancelled'],
  ready: ['submitting', 'pending', 'blocked', 'paused', 'cancelled'],
  queued: ['submitting', 'blocked', 'paused', 'cancelled'],
  submitting: ['running', 'succeeded', 'failed', 'queued', 'blocked', 'cancelled'],
  running: ['succeeded', 'failed', 'queued', 'blocked', 'cancelled'],
  // a succeeded implementation task gets a fix attempt when review requests changes
  succeeded: ['queued'],
  failed: ['queued', 'blocked', 'cancelled'],
  awaiting_approval: ['pending', 'ready', 'blocked', 'cancelled'],
  blocked: ['queued', 'ready', 'cancelled'],
  paused: ['pending', 'ready', 'queued', 'cancelled'],
  cancelled: [],
};

export const RUN_TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  queued: ['submitting', 'cancelled'],
  submitting: ['running', 'succeeded', 'failed', 'cancelled'],
  running: ['succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['submitting', 'running'];
export const TERMINAL_IDEA_STATUSES: readonly IdeaStatus[] = ['completed', 'cancelled', 'failed'];
/** Ideas whose tasks the scheduler may start. */
export const SCHEDULABLE_IDEA_STATUSES: readonly IdeaStatus[] = [
  'registered', 'planning', 'plan_ready', 'awaiting_dependencies', 'running_tasks', 'qa_review',
  'integration', 'deployment', 'monitoring', 'remediation',
];

export function canMove<S extends string>(table: Readonly<Record<S, readonly S[]>>, from: S, to: S): boolean {
  return from === to || (table[from]?.includes(to) ?? false);
}

/** Every allowed (from, to) pair, as the database tables hold them. */
export function pairs<S extends string>(table: Readonly<Record<S, readonly S[]>>): [S, S][] {
  const out: [S, S][] = [];
  for (const [from, tos] of Object.entries(table) as [S, readonly S[]][]) for (const to of tos) out.push([from, to]);
  return out.sort((a, b) => (a[0] + a[1] < b[0] + b[1] ? -1 : 1));
}
