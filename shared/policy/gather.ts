// The facts a checkpoint's rules read, gathered from the database in a few statements:
// the idea and its accepted plan, the implementation runs with their `diff-stats` and
// `test-report` artifacts (parsed with the callbacks' own schemas: what could not be read
// is said, not thrown), the repository's recent deploys, and the repo-local policy file
// the planning run reported.
import { diffStatsSchema, testReportSchema } from '../callbacks/artifacts.js';
import type { Queryable } from '../db/index.js';
import { NotFoundError } from '../errors/index.js';
import { nowParam, type Clock } from '../scheduler/clock.js';
import { committedSpend } from './budgets.js';
import type { EffectivePolicy } from './effective.js';
import type { Checkpoint } from './findings.js';
import type { Level } from './pack.js';
import { changeBudget } from './rules/change-budget.js';
import { BUDGETS_SLOT, type RepoLocalFacts, type Reported, type RuleContext, type RunFacts } from './rules/index.js';
import type { z } from 'zod';

export interface GatherInput {
  readonly ideaId: string;
  readonly checkpoint: Checkpoint;
  readonly taskId?: string | null;
  readonly runId?: string | null;
}

export interface GatherDeps {
  readonly monitorThresholds: Readonly<Record<string, unknown>>;
  readonly clock?: Clock;
}

function reported<T>(schema: z.ZodType<T>, kind: string, data: unknown): Reported<T> {
  if (data === undefined || data === null) return { ok: false, problem: 'is missing' };
  const r = schema.safeParse(data);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, problem: `is malformed: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || kind} ${i.message}`).join('; ')}` };
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

interface RunRow { run_id: string; task_id: string; task_key: string; paths: unknown; diff: unknown; report: unknown; task_text?: string | null }

function runFacts(r: RunRow): RunFacts {
  return {
    runId: r.run_id, taskId: r.task_id, taskKey: r.task_key, taskPaths: strings(r.paths),
    diffStats: reported(diffStatsSchema, 'diff-stats', r.diff), testReport: reported(testReportSchema, 'test-report', r.report),
    taskText: [r.task_text, ...diffSummary(r.diff)].filter((x) => x && x.trim()).join('\n'),
  };
}

/** The title and summary an agent may add to its diff-stats (extra fields are kept): what the change says it does. */
function diffSummary(diff: unknown): string[] {
  const d = diff && typeof diff === 'object' ? (diff as Record<string, unknown>) : {};
  return ['title', 'summary'].map((k) => (typeof d[k] === 'string' ? (d[k] as string).slice(0, 4000) : ''));
}

type Policy = Pick<EffectivePolicy, 'document' | 'hash' | 'chain'>;

/**
 * `policyOrRead` may still be on its way (evaluateCheckpoint): the reads here do not depend on it,
 * so they are sent behind its read, in the same round trip, and it is awaited with them.
 */
export async function gatherContext(sql: Queryable, deps: GatherDeps, input: GatherInput, policyOrRead: Policy | Promise<Policy>): Promise<RuleContext> {
  // the three reads are independent: sent together (pipelined on the one connection), then awaited
  const ideaRead = sql<{ repository: string; autonomy_level: Level; labels: string[]; intent: Record<string, unknown> | null; plan: { tasks?: unknown[] } | null; local: Record<string, unknown> | null; budget: { maxCostUsd?: number; maxTokens?: number } | null }[]>`
    select i.repository, i.autonomy_level, i.labels, i.intent, i.metadata->'plan' as plan, i.budget,
           (select a.data from codex_kb.artifacts a where a.idea_id = i.id and a.artifact_type = 'policy'
             order by a.created_at desc limit 1) as local
      from codex_kb.ideas i where i.id = ${input.ideaId}`;
  // the latest succeeded run of every implementation task, with its latest artifacts of each kind
  const ideaRowsRead = sql<RunRow[]>`
    select distinct on (t.id) r.id as run_id, t.id as task_id, t.key as task_key, t.paths,
           (select a.data from codex_kb.artifacts a where a.run_id = r.id and a.artifact_type = 'diff-stats' order by a.created_at desc limit 1) as diff,
           (select a.data from codex_kb.artifacts a where a.run_id = r.id and a.artifact_type = 'test-report' order by a.created_at desc limit 1) as report
      from codex_kb.tasks t join codex_kb.task_runs r on r.task_id = t.id and r.status = 'succeeded'
     where t.idea_id = ${input.ideaId} and t.stage = 'implementation' and t.state <> 'cancelled'
     order by t.id, r.attempt desc, r.completed_at desc`;
  const runRead = !input.runId ? undefined : sql<RunRow[]>`
      select r.id as run_id, t.id as task_id, t.key as task_key, t.paths, concat_ws(E'\n', t.title, t.description) as task_text,
             (select a.data from codex_kb.artifacts a where a.run_id = r.id and a.artifact_type = 'diff-stats' order by a.created_at desc limit 1) as diff,
             (select a.data from codex_kb.artifacts a where a.run_id = r.id and a.artifact_type = 'test-report' order by a.created_at desc limit 1) as report
        from codex_kb.task_runs r join codex_kb.tasks t on t.id = r.task_id where r.id = ${input.runId}`;
  const [[idea], ideaRows, runRows, policy] = await Promise.all([ideaRead, ideaRowsRead, runRead, policyOrRead]);
  if (!idea) throw new NotFoundError(`no idea ${input.ideaId}`);
  const ideaRuns = ideaRows.map(runFacts).sort((a, b) => a.taskKey.localeCompare(b.taskKey));
  const runs = !runRows ? ideaRuns : runRows[0] ? [runFacts(runRows[0])] : [];
  const now = nowParam(deps.clock);
  // the repository's deploy history is read only where the change budget runs (pre-deploy),
  // not at every implementation completion
  const [deploys] = !changeBudget.checkpoints.includes(input.checkpoint) ? [] : await sql<{ day: number; week: number; regressed_idea: string | null; regressed_at: Date | null }[]>`
    with done as (
      select r.idea_id, r.completed_at
        from codex_kb.task_runs r join codex_kb.tasks t on t.id = r.task_id
       where t.stage = 'deploy' and r.status = 'succeeded' and lower(t.repository) = lower(${idea.repository})
    ), latest as (select idea_id, completed_at from done order by completed_at desc limit 1)
    select (select count(*)::int from done where completed_at > coalesce(${now}::timestamptz, now()) - interval '1 day') as day,
           (select count(*)::int from done where completed_at > coalesce(${now}::timestamptz, now()) - interval '7 days') as week,
           (select l.idea_id from latest l where exists (
              select 1 from codex_kb.tasks x where x.idea_id = l.idea_id and x.key like 'remediation-%' and x.created_at >= l.completed_at)) as regressed_idea,
           (select completed_at from latest) as regressed_at`;
  // spend is read only where the budgets rule runs (not at every implementation completion)
  const spent = BUDGETS_SLOT.checkpoints.includes(input.checkpoint) ? await committedSpend(sql, input.ideaId, idea.repository, now) : undefined;
  const intent = idea.intent ?? {};
  const local = idea.local;
  const repoLocal: RepoLocalFacts | null = local && typeof local.path === 'string'
    ? { path: local.path, digest: String(local.digest ?? ''), ...(local.error ? { error: local.error as RepoLocalFacts['error'] & object } : {}) }
    : null;
  return {
    checkpoint: input.checkpoint,
    ideaId: input.ideaId,
    taskId: input.taskId ?? null,
    runId: input.runId ?? null,
    policy,
    idea: {
      repository: idea.repository, autonomyLevel: idea.autonomy_level, labels: idea.labels,
      acceptanceCriteria: strings(intent.acceptanceCriteria), successMetrics: strings(intent.successMetrics),
    },
    monitorThresholds: deps.monitorThresholds,
    ...(typeof intent.goal === 'string' || Array.isArray(intent.nonGoals) ? {
      intent: {
        title: typeof intent.title === 'string' ? intent.title : '', goal: typeof intent.goal === 'string' ? intent.goal : '',
        nonGoals: strings(intent.nonGoals), constraints: strings(intent.constraints), acceptanceCriteria: strings(intent.acceptanceCriteria),
      },
    } : {}),
    planTasks: (idea.plan?.tasks ?? []).map((t) => {
      const x = t as { key?: unknown; risk?: unknown; paths?: unknown };
      const x2 = t as { title?: unknown; description?: unknown };
      return { key: String(x.key ?? ''), risk: String(x.risk ?? 'low'), paths: strings(x.paths), title: typeof x2.title === 'string' ? x2.title : '', description: typeof x2.description === 'string' ? x2.description : '' };
    }),
    runs,
    ideaRuns,
    ...(deploys ? {
      deploys: {
        lastDay: deploys.day,
        lastWeek: deploys.week,
        lastRegressed: deploys.regressed_idea ? { ideaId: deploys.regressed_idea, at: deploys.regressed_at!.toISOString() } : null,
      },
    } : {}),
    repoLocal,
    ...(spent ? { spend: { ...spent, ideaBudget: idea.budget } } : {}),
  };
}
