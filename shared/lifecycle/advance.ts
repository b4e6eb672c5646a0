// What happens when a run finishes: the run is settled (guarded), its metrics recorded,
// and the task and the idea move on by stage — a plan becomes tasks, finished
// implementation goes to review, a review approves (→ integration) or asks for fixes
// (bounded cycles), integration merges (→ deploy), deploy opens the monitoring window.
// A failed run is retried as a new attempt with exponential backoff until max attempts,
// then the task and the idea are blocked with the reason — unless its failure is terminal
// (`isTerminal`: a rejected plan, a Workflow that cannot be built or is refused), which
// stops the task at once. The caller holds the idea's lock.
import type { Config } from '../config/index.js';
import { afterCommit, type Tx } from '../db/index.js';
import { recordStageSpan, type EndedRun } from '../telemetry/stage.js';
import { isTerminal, StageResultError, ValidationError, type TerminalRunFailure } from '../errors/index.js';
import { parsePlanArtifact, type Plan } from '../plans/index.js';
import { nowParam, type Clock } from '../scheduler/clock.js';
import { canMove, RUN_TRANSITIONS, type IdeaStatus, type RunStatus, type Stage } from './states.js';
import { holdAfterImplementation, planCheckpoint, postImplementation, stageCheckpoint } from './checkpoints.js';
import { moveIdea, moveTask } from './transitions.js';

export type LifecycleConfig = Pick<Config, 'lifecycle' | 'topics'>;

export interface RunOutcome {
  readonly succeeded: boolean;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly usage?: { inputTokens?: number; outputTokens?: number; costUsd?: number };
  readonly actor?: string;
}

export interface RunRow {
  id: string;
  task_id: string;
  idea_id: string;
  attempt: number;
  stage: Stage;
  status: string;
}

export interface SettleOptions {
  /** What a retry's backoff is counted from (`not_before`); the database's `now()` when absent. */
  readonly clock?: Clock;
}

/**
 * Settles an active run once: what it became (a "succeeded" without its stage's result
 * becomes `failed`), or false when it was already settled (nothing changes).
 */
export async function settleRun(
  tx: Tx,
  cfg: LifecycleConfig,
  runOrId: string | RunRow,
  outcome: RunOutcome,
  opts: SettleOptions = {},
): Promise<false | 'succeeded' | 'failed'> {
  const [run] =
    typeof runOrId === 'string'
      ? await tx<RunRow[]>`select id, task_id, idea_id, attempt, stage, status from codex_kb.task_runs where id = ${runOrId}`
      : [runOrId];
  if (!run || (run.status !== 'submitting' && run.status !== 'running')) return false;
  let result = outcome;
  let plan: { plan: Plan; decisions: readonly string[] } | undefined;
  let verdict: Record<string, unknown> | undefined;
  if (outcome.succeeded) {
    // A run that "succeeded" without the result its stage must produce did not succeed.
    try {
      ({ plan, verdict } = await stageResult(tx, run));
    } catch (err) {
      if (!(err instanceof StageResultError)) throw err;
      result = { ...outcome, succeeded: false, errorCode: err.code, errorMessage: err.message };
    }
  }
  const usage = result.usage ?? {};
  const to = result.succeeded ? 'succeeded' : 'failed';
  if (!canMove(RUN_TRANSITIONS, run.status as RunStatus, to)) throw new Error(`a run cannot move from ${run.status} to ${to}`);
  // Usage is the run's cumulative figure (a heartbeat may have reported part of it already,
  // shared/callbacks/budget-stop.ts), so the cost is the larger, never the sum.
  // One statement: the guarded move with its fields, the metrics, the timeline entry and
  // the outbox event (the caller dispatches this idea's successors at once; the event lets
  // dispatch hand the freed capacity to other ideas' waiting tasks too).
  const timeline = {
    attempt: run.attempt,
    ...(result.errorCode ? { errorCode: result.errorCode, errorMessage: result.errorMessage } : {}),
  };
  const [moved] = await tx<EndedRun[]>`
    with settled as (
      update codex_kb.task_runs
         set status = ${to}, completed_at = now(), error_code = ${result.errorCode ?? null},
             error_message = ${result.errorMessage?.slice(0, 4000) ?? null},
             usage = usage || ${tx.json(usage as never)}, cost_usd = greatest(cost_usd, ${usage.costUsd ?? 0})
       where id = ${run.id} and status in ('submitting', 'running')
      returning id, idea_id, queued_at, submitted_at, started_at, completed_at, usage, status, attempt, stage,
                external_run_id, cost_usd, error_code, trace_context
    ), metrics as (
      insert into codex_kb.run_metrics (run_id, idea_id, queue_latency_ms, runtime_ms, resource_usage)
      select id, idea_id,
             (extract(epoch from (coalesce(started_at, submitted_at, completed_at) - queued_at)) * 1000)::int,
             (extract(epoch from (completed_at - coalesce(started_at, submitted_at, queued_at))) * 1000)::int,
             usage
        from settled
      on conflict (run_id) do nothing
    ), timeline as (
      insert into codex_kb.run_events (idea_id, run_id, task_id, event_type, actor, payload)
      select idea_id, id, ${run.task_id}, ${result.succeeded ? 'run.succeeded' : 'run.failed'}, ${result.actor ?? 'facteur'},
             ${tx.json(timeline as never)}
        from settled
    ), announced as (
      insert into codex_kb.outbox (type, source, subject, topic, key, data, trace_context)
      select 'facteur.task.finished', '/facteur/lifecycle', settled.idea_id::text, ${cfg.topics.events}, settled.idea_id::text,
             ${tx.json({ ideaId: run.idea_id, taskId: run.task_id, runId: run.id, stage: run.stage, succeeded: result.succeeded })},
             coalesce(settled.trace_context, i.trace_context)
        from settled left join codex_kb.ideas i on i.id = settled.idea_id
    )
    select settled.*, (select key from codex_kb.tasks where id = ${run.task_id}) as task_key,
           (select trace_context from codex_kb.ideas where id = settled.idea_id) as idea_trace_context
      from settled`;
  if (!moved) return false;
  // the stage span, from the times just recorded, once they are committed (shared/telemetry)
  afterCommit(tx, () => recordStageSpan(moved));
  if (!result.succeeded) {
    if (isTerminal(result.errorCode)) await stopTask(tx, run, result.errorCode, result.errorMessage);
    else await retryOrBlock(tx, cfg, run, `${result.errorCode ?? 'failed'}: ${result.errorMessage ?? 'run failed'}`, opts.clock);
    return to;
  }
  // an implementation run's change is checked before its task is marked succeeded
  const post = run.stage === 'implementation' ? await postImplementation(tx, { config: cfg, ...(opts.clock ? { clock: opts.clock } : {}) }, run) : undefined;
  if (post?.decision === 'block') return to;
  // Not awaited before what the stage does next: that is sent behind it on the transaction's
  // one connection, in the same round trip, and sees it. An error of it aborts the
  // transaction, so the statements after it fail and the transaction throws its error.
  await Promise.all([moveTask(tx, run.task_id, ['submitting', 'running'], 'succeeded'), stageSucceeded(tx, cfg, run, plan, verdict, post)]);
  return to;
}

/** What a succeeded run's stage does next; its first statement runs behind the task's move. */
async function stageSucceeded(tx: Tx, cfg: LifecycleConfig, run: RunRow, plan: { plan: Plan; decisions: readonly string[] } | undefined, verdict: Record<string, unknown> | undefined, post: Awaited<ReturnType<typeof postImplementation>> | undefined): Promise<void> {
  switch (run.stage) {
    case 'planning':
      await acceptPlan(tx, cfg, run, plan!);
      break;
    case 'implementation':
      if (post?.decision === 'approval') await holdAfterImplementation(tx, cfg, run, post);
      else await afterImplementation(tx, cfg, run.idea_id);
      break;
    case 'review':
      await afterReview(tx, cfg, run, verdict!);
      break;
    case 'integration':
      // the idea moves first, so a deploy held for an approval resumes to `deployment`
      await moveIdea(tx, run.idea_id, 'integration', 'deployment');
      await addStageTask(tx, cfg, run.idea_id, 'deploy');
      break;
    case 'deploy':
      await openMonitoring(tx, cfg, run, verdict!);
      break;
  }
}

interface StageCheck {
  plan?: { plan: Plan; decisions: readonly string[] };
  verdict?: Record<string, unknown>;
}

/**
 * The result the run's stage must produce, read from its artifact; throws StageResultError
 * when it is missing or unusable (the run then fails with that error's code).
 */
async function stageResult(tx: Tx, run: Pick<RunRow, 'id' | 'stage'>): Promise<StageCheck> {
  const kind = ({ planning: 'plan', review: 'review', integration: 'integration', deploy: 'deploy' } as const)[run.stage as 'planning'];
  if (!kind) return {};
  const [artifact] = await tx<{ data: unknown }[]>`
    select data from codex_kb.artifacts where run_id = ${run.id} and artifact_type = ${kind} order by created_at desc limit 1`;
  if (!artifact) throw new StageResultError(`missing_${kind}`, `the ${run.stage} run reported success without a ${kind} artifact`);
  if (run.stage === 'planning') {
    try {
      return { plan: parsePlanArtifact(artifact.data) };
    } catch (err) {
      // The plan is wrong and will stay wrong: a terminal failure (see TERMINAL_RUN_FAILURES).
      if (!(err instanceof ValidationError)) throw err;
      const why = err.issues.map((i) => `${i.path}: ${i.message}`).join('; ') || err.message;
      throw new StageResultError('invalid_plan', why, { cause: err });
    }
  }
  const data = artifact.data;
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new StageResultError(`invalid_${kind}`, `the ${kind} artifact must be a JSON object`);
  const v = data as Record<string, unknown>;
  if (run.stage === 'review' && v.verdict !== 'approved' && v.verdict !== 'changes_requested') {
    throw new StageResultError('invalid_review', 'the review artifact needs verdict "approved" or "changes_requested"');
  }
  if (run.stage === 'integration' && v.merged !== true) {
    throw new StageResultError('not_merged', `integration did not merge: ${String(v.message ?? 'no reason given')}`);
  }
  if (run.stage === 'deploy' && (typeof v.version !== 'string' || v.deployed === false)) {
    throw new StageResultError('not_deployed', `deploy did not report a deployed version: ${String(v.message ?? '')}`);
  }
  return { verdict: v };
}

/**
 * What a terminal failure does to the task, and what the task and the idea are told. A
 * rejected plan fails the planning task; a Workflow that cannot be built, or that the
 * cluster rejects, blocks its task. Either way the idea is blocked with the reason, and an
 * operator's retry gives both another round. One entry per TERMINAL_RUN_FAILURES code.
 */
type Reasons = (key: string, message: string) => readonly [task: string, idea: string];
const cannotRun = (what: string): Reasons => (key, message) => {
  const why = `task ${key} cannot run: ${what}: ${message}`;
  return [why, why];
};
const TERMINAL_FAILURE: Record<TerminalRunFailure, { readonly task: 'failed' | 'blocked'; readonly reasons: Reasons }> = {
  invalid_plan: { task: 'failed', reasons: (_key, message) => [message, `the plan was rejected: ${message}`] },
  invalid_workflow: { task: 'blocked', reasons: cannotRun('its Workflow cannot be built') },
  submit_rejected: { task: 'blocked', reasons: cannotRun('the cluster rejected its Workflow') },
};

async function stopTask(tx: Tx, run: RunRow, code: TerminalRunFailure, message: string | undefined): Promise<void> {
  const [task] = await tx<{ key: string }[]>`select key from codex_kb.tasks where id = ${run.task_id}`;
  const { task: state, reasons } = TERMINAL_FAILURE[code];
  const [taskReason, ideaReason] = reasons(task?.key ?? run.task_id, message ?? code);
  await moveTask(tx, run.task_id, ['submitting', 'running'], state, taskReason);
  await blockIdea(tx, run.idea_id, ideaReason);
}

export function backoffMs(cfg: LifecycleConfig, attempt: number): number {
  return Math.min(cfg.lifecycle.retryMaxMs, cfg.lifecycle.retryBaseMs * 2 ** Math.max(0, attempt - 1));
}

async function retryOrBlock(tx: Tx, cfg: LifecycleConfig, run: RunRow, reason: string, clock: Clock | undefined): Promise<void> {
  const [task] = await tx<{ attempts: number; max_attempts: number; key: string }[]>`
    select attempts, max_attempts, key from codex_kb.tasks where id = ${run.task_id}`;
  if (!task) return;
  if (task.attempts < task.max_attempts) {
    const wait = backoffMs(cfg, task.attempts);
    if (await moveTask(tx, run.task_id, ['submitting', 'running'], 'queued', `retrying after: ${reason}`)) {
      await tx`
        update codex_kb.tasks set not_before = coalesce(${nowParam(clock)}::timestamptz, now()) + make_interval(secs => ${wait / 1000})
         where id = ${run.task_id}`;
      await event(tx, run, 'task.retry_scheduled', 'facteur', { attempt: task.attempts + 1, inMs: wait, reason });
    }
    return;
  }
  const why = `task ${task.key} failed ${task.attempts} time(s); last: ${reason}`;
  await moveTask(tx, run.task_id, ['submitting', 'running'], 'blocked', why);
  await blockIdea(tx, run.idea_id, why);
}

export async function blockIdea(tx: Tx, ideaId: string, reason: string): Promise<void> {
  const [idea] = await tx<{ status: IdeaStatus }[]>`select status from codex_kb.ideas where id = ${ideaId}`;
  if (!idea || ['blocked', 'completed', 'cancelled', 'failed'].includes(idea.status)) return;
  await moveIdea(tx, ideaId, idea.status, 'blocked', reason, { resumeStatus: idea.status });
}

async function acceptPlan(tx: Tx, cfg: LifecycleConfig, run: RunRow, parsed: { plan: Plan; decisions: readonly string[] }): Promise<void> {
  const [idea] = await tx<{ repository: string; base: string; priority_rank: number }[]>`
    select repository, base, priority_rank from codex_kb.ideas where id = ${run.idea_id}`;
  if (!idea) return;
  const rows = parsed.plan.tasks.map((t) => ({
    key: t.key, title: t.title, description: t.description ?? '', acceptance: t.acceptanceCriteria, paths: t.paths, risk: t.risk,
    branch: `facteur/${run.idea_id.slice(0, 8)}/${t.key}`,
  }));
  await tx`
    insert into codex_kb.tasks (idea_id, key, stage, title, description, repository, branch, base, priority_rank,
                                acceptance_criteria, paths, risk, max_attempts, metadata)
    select ${run.idea_id}, r.key, 'implementation', r.title, r.description, ${idea.repository}, r.branch, ${idea.base},
           ${idea.priority_rank}, r.acceptance, r.paths, r.risk, ${cfg.lifecycle.maxAttempts}, jsonb_build_object('planRunId', ${run.id}::text)
      from jsonb_to_recordset(${tx.json(rows as never)}) as r(key text, title text, description text, acceptance jsonb, paths jsonb, risk text, branch text)
    on conflict (idea_id, key) do nothing`;
  const deps = parsed.plan.tasks.flatMap((t) => t.dependsOn.map((d) => ({ task: t.key, on: d.key, type: d.type, artifact: (d as { artifact?: string }).artifact ?? null })));
  if (deps.length) {
    await tx`
      insert into codex_kb.task_dependencies (task_id, depends_on_task_id, dependency_type, artifact_kind)
      select a.id, b.id, d.type, d.artifact
        from jsonb_to_recordset(${tx.json(deps as never)}) as d(task text, "on" text, type text, artifact text)
        join codex_kb.tasks a on a.idea_id = ${run.idea_id} and a.key = d.task
        join codex_kb.tasks b on b.idea_id = ${run.idea_id} and b.key = d."on"
      on conflict do nothing`;
  }
  await tx`
    update codex_kb.ideas set metadata = metadata || jsonb_build_object('plan', ${tx.json(parsed.plan as never)}::jsonb,
                                                               'planDecisions', ${tx.json(parsed.decisions as never)}::jsonb),
           -- the accepted plan's open questions join the intent (seed 003's intent_v1), beside toolchainHypotheses
           intent = jsonb_set(coalesce(intent, '{}'::jsonb), '{openQuestions}', ${tx.json(parsed.plan.openQuestions as never)}::jsonb)
     where id = ${run.idea_id}`;
  await event(tx, run, 'plan.accepted', 'facteur', { tasks: rows.length, decisions: parsed.decisions });
  await moveIdea(tx, run.idea_id, 'planning', 'plan_ready');
  await planCheckpoint(tx, cfg, run);
}

/** When no implementation work is left unfinished, the idea goes to review. */
export async function afterImplementation(tx: Tx, cfg: LifecycleConfig, ideaId: string): Promise<void> {
  const [left] = await tx<{ n: number }[]>`
    select count(*)::int as n from codex_kb.tasks
     where idea_id = ${ideaId} and stage = 'implementation' and state not in ('succeeded', 'cancelled')`;
  if ((left?.n ?? 1) > 0) return;
  const [idea] = await tx<{ status: IdeaStatus }[]>`select status from codex_kb.ideas where id = ${ideaId}`;
  if (!idea || !['running_tasks', 'plan_ready', 'awaiting_dependencies', 'remediation'].includes(idea.status)) return;
  if (idea.status !== 'running_tasks') await moveIdea(tx, ideaId, idea.status, 'running_tasks');
  await addStageTask(tx, cfg, ideaId, 'review');
  await moveIdea(tx, ideaId, 'running_tasks', 'qa_review');
}

async function afterReview(tx: Tx, cfg: LifecycleConfig, run: RunRow, verdict: Record<string, unknown>): Promise<void> {
  if (verdict.verdict === 'approved') {
    // the idea moves first, so an integration held for an approval resumes to `integration`
    await moveIdea(tx, run.idea_id, 'qa_review', 'integration');
    await addStageTask(tx, cfg, run.idea_id, 'integration');
    return;
  }
  const [idea] = await tx<{ review_cycles: number }[]>`
    update codex_kb.ideas set review_cycles = review_cycles + 1 where id = ${run.idea_id} returning review_cycles`;
  const cycles = idea?.review_cycles ?? 0;
  if (cycles >= cfg.lifecycle.reviewMaxCycles) {
    await blockIdea(tx, run.idea_id, `review requested changes ${cycles} times (limit ${cfg.lifecycle.reviewMaxCycles})`);
    return;
  }
  const keys = Array.isArray(verdict.tasks) ? (verdict.tasks as unknown[]).filter((k): k is string => typeof k === 'string') : [];
  const fixes = await tx<{ id: string }[]>`
    select id from codex_kb.tasks
     where idea_id = ${run.idea_id} and stage = 'implementation' and state = 'succeeded'
       and (cardinality(${keys}::text[]) = 0 or key = any(${keys}::text[]))`;
  const context = { summary: verdict.summary ?? null, comments: verdict.comments ?? [], cycle: cycles, reviewRunId: run.id };
  for (const f of fixes) {
    await moveTask(tx, f.id, 'succeeded', 'queued', `review cycle ${cycles} requested changes`);
    await tx`
      update codex_kb.tasks set not_before = null, max_attempts = attempts + ${cfg.lifecycle.maxAttempts},
             metadata = metadata || jsonb_build_object('reviewContext', ${tx.json(context as never)}::jsonb)
       where id = ${f.id}`;
  }
  await event(tx, run, 'review.changes_requested', 'facteur', { cycle: cycles, tasks: fixes.length });
  await moveIdea(tx, run.idea_id, 'qa_review', 'running_tasks');
  if (fixes.length === 0) await afterImplementation(tx, cfg, run.idea_id);
}

async function openMonitoring(tx: Tx, cfg: LifecycleConfig, run: RunRow, result: Record<string, unknown>): Promise<void> {
  await tx`
    update codex_kb.ideas set deployed_version = ${String(result.version)},
           monitoring_until = now() + make_interval(secs => ${cfg.lifecycle.monitorWindowS})
     where id = ${run.idea_id}`;
  await moveIdea(tx, run.idea_id, 'deployment', 'monitoring');
  if (cfg.lifecycle.monitorWindowS === 0) await moveIdea(tx, run.idea_id, 'monitoring', 'completed', 'monitoring window elapsed without regression');
}

/**
 * Adds the next task of a single-task stage: `review-1`, `review-2`, `integration-1`, …
 * Integration and deploy pass a policy checkpoint first (pre-merge, pre-deploy): when an
 * enforced finding fails, the task waits for a human's approval.
 */
export async function addStageTask(tx: Tx, cfg: LifecycleConfig, ideaId: string, stage: 'review' | 'integration' | 'deploy'): Promise<void> {
  const [task] = await tx<{ id: string }[]>`
    insert into codex_kb.tasks (idea_id, key, stage, title, description, repository, branch, base, priority_rank, max_attempts)
    select i.id, ${stage} || '-' || (select count(*) + 1 from codex_kb.tasks where idea_id = i.id and stage = ${stage}),
           ${stage}, initcap(${stage}) || ': ' || i.title, coalesce(i.intent_anchor, ''), i.repository, null, i.base, i.priority_rank,
           ${cfg.lifecycle.maxAttempts}
      from codex_kb.ideas i where i.id = ${ideaId}
    returning id`;
  if (!task || stage === 'review') return;
  const checkpoint = stage === 'integration' ? 'pre-merge' : 'pre-deploy';
  await stageCheckpoint(tx, cfg, ideaId, checkpoint, task.id);
}

async function event(tx: Tx, run: RunRow, type: string, actor: string, payload: Record<string, unknown>): Promise<void> {
  await tx`
    insert into codex_kb.run_events (idea_id, run_id, task_id, event_type, actor, payload)
    values (${run.idea_id}, ${run.id}, ${run.task_id}, ${type}, ${actor}, ${tx.json(payload as never)})`;
}
