// After commit: create the Workflow of every run the scheduler committed as `submitting`.
// The name is deterministic, so a create that already happened (a retry, a crash between
// commit and create healed by the tick) answers AlreadyExists and counts as success.
//
// The run's callback token is handed to the backend beside the Workflow, never inside it:
// the Argo client puts it in a Secret the Workflow owns (shared/argo/client.ts has the
// order of the steps), local mode in a file of the run's directory.
import { SubmissionAbandoned, type RunTokenSweep, type SubmitOptions, type SubmitResult, type Workflow } from '../argo/index.js';
import { buildWorkflow } from '../argo/workflow.js';
import type { Config } from '../config/index.js';
import { Secret } from '../config/secret.js';
import type { Sql } from '../db/index.js';
import { transaction } from '../db/index.js';
import { ConflictError, NonRetriableError, ValidationError, messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { runToken } from '../lifecycle/tokens.js';
import { settleRun } from '../lifecycle/advance.js';
import { topologicalOrder } from '../plans/graph.js';
import { ACTIVE_RUN_STATUSES, type RunStatus, type Stage } from '../lifecycle/states.js';
import { isUuid } from '../validation/index.js';
import { contextForTrace, inSpan, runTraceparent, validTraceparent } from '../telemetry/index.js';
import type { Embedder } from '../kb/embed/types.js';
import { configuredEmbedder } from '../kb/embed/index.js';
import { knownRetrievalColumns, retrievalQuery, retrievedContextFor, type KnownRetrieval } from '../kb/retrieve.js';

/** What dispatch needs of Argo (the real client, or local mode's runner). */
export interface WorkflowBackend {
  readonly namespace: string;
  /**
   * Creates the workflow and gives its step `token`, which the workflow object never
   * contains. A backend that retries runs each retry through `options.guard`.
   */
  submit(workflow: Workflow, token: Secret, options?: SubmitOptions): Promise<SubmitResult>;
  delete(name: string): Promise<boolean>;
  /** Where the token is an object of its own that a crash can leave behind (Kubernetes). */
  readonly tokens?: RunTokenSweep;
}

export interface DispatchDeps {
  readonly sql: Sql;
  readonly config: Config;
  readonly log: Logger;
  readonly workflows: WorkflowBackend;
  /** Base URL of the callbacks function, as Argo steps reach it. */
  readonly callbackBaseUrl: string;
  /** The configured embedder, for the lessons retrieved into runs (shared/kb/retrieve.ts); the embedded default when unset. */
  readonly embedder?: Embedder;
}


interface RunToSubmit {
  id: string;
  attempt: number;
  external_run_id: string;
  task_id: string;
  idea_id: string;
  stage: Stage;
  key: string;
  title: string;
  description: string;
  prompt: string | null;
  branch: string | null;
  base: string;
  acceptance_criteria: unknown;
  paths: unknown;
  task_metadata: Record<string, unknown>;
  repository: string;
  issue_number: string | null;
  payload: unknown;
  intent_anchor: string | null;
  /** The idea's trace context. */
  trace_context: string | null;
  run_trace_context: string | null;
  idea_title: string;
  dependencies: { key: string; branch: string | null }[] | null;
  implementation: { key: string; branch: string | null; title: string; state: string; dependsOn: string[] }[] | null;
  /** The KB retrieval's own read of the run, asked here (shared/kb/retrieve.ts, `known`). */
  kb_context: string | null;
  kb_active: KnownRetrieval['active'];
}

export function callbackUrl(base: string, runId: string): string {
  return `${base.replace(/\/+$/, '')}/v1/runs/${runId}/events`;
}

/** The branch an implementation task works on when its source did not name one. */
export function defaultBranch(ideaId: string, key: string): string {
  return `facteur/${ideaId.slice(0, 8)}/${key}`;
}

export async function submitRuns(deps: DispatchDeps, runIds: readonly string[]): Promise<void> {
  if (runIds.length === 0) return;
  const secret = deps.config.callbackSecret;
  if (!secret) throw new NonRetriableError('not_configured', 'FACTEUR_CALLBACK_SECRET is required to submit runs');
  const runs = await deps.sql<RunToSubmit[]>`
    select r.id, r.attempt, r.external_run_id, r.task_id, r.idea_id, r.stage, t.key, t.title, t.description, t.prompt,
           t.branch, t.base, t.acceptance_criteria, t.paths, t.metadata as task_metadata, i.repository, i.issue_number::text,
           i.payload, i.intent_anchor, i.trace_context, r.trace_context as run_trace_context, i.title as idea_title,
           -- what facteur-agent builds on: an implementation task starts from its hard
           -- dependencies' branches; review, integration and deploy see every implementation task
           case when r.stage = 'implementation' then (
             select coalesce(jsonb_agg(jsonb_build_object('key', d.key, 'branch', d.branch) order by d.key), '[]'::jsonb)
               from codex_kb.task_dependencies td join codex_kb.tasks d on d.id = td.depends_on_task_id
              where td.task_id = t.id and td.dependency_type = 'hard') end as dependencies,
           case when r.stage in ('review', 'integration', 'deploy') then (
             select coalesce(jsonb_agg(jsonb_build_object('key', x.key, 'branch', x.branch, 'title', x.title, 'state', x.state,
                      'dependsOn', (select coalesce(jsonb_agg(d.key order by d.key), '[]'::jsonb)
                                      from codex_kb.task_dependencies td join codex_kb.tasks d on d.id = td.depends_on_task_id
                                     where td.task_id = x.id and td.dependency_type = 'hard')) order by x.key), '[]'::jsonb)
               from codex_kb.tasks x where x.idea_id = r.idea_id and x.stage = 'implementation' and x.state <> 'cancelled') end as implementation,
           ${knownRetrievalColumns(deps.sql, deps.sql`r.id`)}
      from codex_kb.task_runs r
      join codex_kb.tasks t on t.id = r.task_id
      join codex_kb.ideas i on i.id = r.idea_id
     where r.id = any(${runIds as string[]}::uuid[]) and r.status = 'submitting'`;
  await Promise.all(runs.map((r) => submitTraced(deps, r, secret)));
}

/**
 * The submission's span, in the idea's trace: under whatever asked for it when that is the
 * same trace (the idea's event, its run's callback), else under the idea's own context. The run's own trace context (its stage span,
 * shared/telemetry) is what its Workflow's steps get as TRACEPARENT.
 */
function submitTraced(deps: DispatchDeps, r: RunToSubmit, secret: NonNullable<Config['callbackSecret']>): Promise<void> {
  const traceparent = validTraceparent(r.run_trace_context) ?? runTraceparent(r.trace_context, r.id);
  const attributes = { 'facteur.idea_id': r.idea_id, 'facteur.task_key': r.key, 'facteur.run_id': r.id, 'facteur.attempt': r.attempt, 'facteur.stage': r.stage, 'facteur.workflow': r.external_run_id };
  return inSpan('facteur.workflow.submit', { attributes, parent: contextForTrace(r.trace_context) }, () => submitOne(deps, r, secret, traceparent));
}

async function submitOne(deps: DispatchDeps, r: RunToSubmit, secret: NonNullable<Config['callbackSecret']>, traceparent: string | undefined): Promise<void> {
  // the lessons for this run, decided and recorded once (a resubmission gets the same bytes)
  let retrievedContext: string;
  try {
    retrievedContext = await retrievedContextFor({ ...deps, embedder: deps.embedder ?? configuredEmbedder(deps.config) }, {
      runId: r.id, ideaId: r.idea_id, taskId: r.task_id, stage: r.stage, repository: r.repository,
      query: retrievalQuery({ ideaTitle: r.idea_title, title: r.title, description: r.description, prompt: r.prompt, paths: r.paths }),
      paths: Array.isArray(r.paths) ? r.paths.filter((p): p is string => typeof p === 'string') : [],
      known: { context: r.kb_context, active: r.kb_active },
    });
  } catch (err) {
    // no decision could be recorded (the database is away): nothing is created; the run stays
    // `submitting` and the tick tries again
    deps.log.warn('dispatch: submission waits, its retrieval could not be recorded', { runId: r.id, workflow: r.external_run_id, error: messageOf(err) });
    return;
  }
  let workflow: Workflow;
  try {
    workflow = buildWorkflow({
      ideaId: r.idea_id,
      taskKey: r.key,
      stage: r.stage,
      attempt: r.attempt,
      runId: r.id,
      repository: r.repository,
      head: r.branch ?? defaultBranch(r.idea_id, r.key),
      base: r.base,
      ...(r.issue_number ? { issueNumber: r.issue_number } : {}),
      rawEvent: r.payload,
      eventBody: {
        stage: r.stage,
        ideaId: r.idea_id,
        ideaTitle: r.idea_title,
        taskKey: r.key,
        title: r.title,
        description: r.description,
        prompt: r.prompt,
        acceptanceCriteria: r.acceptance_criteria,
        paths: r.paths,
        attempt: r.attempt,
        repository: r.repository,
        branch: r.branch ?? defaultBranch(r.idea_id, r.key),
        base: r.base,
        ...(r.dependencies ? { dependencies: r.dependencies.map((d) => ({ key: d.key, branch: d.branch ?? defaultBranch(r.idea_id, d.key) })) } : {}),
        ...(r.implementation ? { implementation: implementationInOrder(r.idea_id, r.implementation) } : {}),
        ...r.task_metadata,
      },
      callbackUrl: callbackUrl(deps.callbackBaseUrl, r.id),
      ...(traceparent ? { traceparent } : {}),
      ...(r.intent_anchor ? { intentAnchor: r.intent_anchor } : {}),
      ...(retrievedContext ? { retrievedContext } : {}),
      namespace: deps.workflows.namespace,
      serviceAccountName: deps.config.workflows.serviceAccount,
      ...(deps.config.workflows.image ? { image: deps.config.workflows.image } : {}),
    });
  } catch (err) {
    await failSubmission(deps, r, 'invalid_workflow', err instanceof ValidationError ? `${err.message}: ${err.issues.map((i) => `${i.path} ${i.message}`).join('; ')}` : messageOf(err));
    return;
  }
  try {
    const res = await deps.workflows.submit(workflow, new Secret(runToken(secret, r.id, r.attempt)), {
      guard: (create) => whileSubmitting(deps.sql, r.id, workflow.metadata.name!, create),
    });
    if (res.tokenOwned === false) {
      deps.log.warn('dispatch: the run token secret has no owner yet; the tick will adopt it', { runId: r.id, workflow: res.name });
    }
    await deps.sql`
      with run as (
        update codex_kb.task_runs set status = 'running', workflow_uid = ${res.uid}, namespace = ${deps.workflows.namespace},
               submitted_at = coalesce(submitted_at, now()), submit_attempts = submit_attempts + 1,
               trace_context = coalesce(trace_context, ${traceparent ?? null})
         where id = ${r.id} and status = 'submitting'
        returning id
      )
      update codex_kb.tasks set state = 'running'
       where id = ${r.task_id} and state = 'submitting' and exists (select 1 from run)`;
  } catch (err) {
    if (err instanceof SubmissionAbandoned) {
      // Nothing to delete: a try that landed unanswered made the one Workflow of this name,
      // whose step is what ended the run, or which the tick or the cancel deleted. Deleting
      // it here let another instance's resubmission create the name a second time (found by
      // `npm run chaos`, seed 202); its token Secret is gone, so it cannot report anything.
      deps.log.info('dispatch: the run ended while its create was retried; not submitted', { runId: r.id, workflow: r.external_run_id });
      return;
    }
    if (err instanceof NonRetriableError || err instanceof ValidationError || err instanceof ConflictError) {
      await failSubmission(deps, r, 'submit_rejected', messageOf(err));
    } else {
      // Transient (429, 5xx, timeouts after the client's own retries): the run stays
      // `submitting` and the tick tries again with the same name.
      deps.log.warn('dispatch: submission failed, the tick will retry', { runId: r.id, workflow: r.external_run_id, error: messageOf(err) });
      await deps.sql`update codex_kb.task_runs set submit_attempts = submit_attempts + 1, error_message = ${messageOf(err).slice(0, 500)} where id = ${r.id}`;
    }
  }
}

/** The idea's implementation tasks, dependencies first (the order integration merges them in). */
function implementationInOrder(ideaId: string, tasks: NonNullable<RunToSubmit['implementation']>) {
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  // a dependency on a cancelled task is not in the list: nothing to merge before it
  const order = topologicalOrder({ tasks: tasks.map((t) => ({ key: t.key, dependsOn: t.dependsOn.filter((k) => byKey.has(k)).map((key) => ({ key })) })) });
  return order.map((key) => byKey.get(key)!).map((t) => ({ key: t.key, title: t.title, state: t.state, branch: t.branch ?? defaultBranch(ideaId, t.key), dependsOn: t.dependsOn }));
}

/** The advisory lock that orders a Workflow's guarded creates before its deletion. */
const createLock = (workflow: string) => `workflow-create:${workflow}`;

/**
 * shared/argo's `guard`: runs `create` only while the run is still `submitting` (a run that
 * moved on has its Workflow already, or has ended and must not get one), holding a shared
 * lock on the Workflow's name until `create` has returned; deleteWorkflow takes it
 * exclusively first, so a create that passed this check lands before the delete, never after.
 * The create's own error is thrown after the (read-only) transaction, unchanged.
 */
async function whileSubmitting(sql: Sql, runId: string, workflow: string, create: () => Promise<void>): Promise<boolean> {
  let failure: { err: unknown } | undefined;
  const ran = await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock_shared(hashtextextended(${createLock(workflow)}, 0))`;
    const [row] = await tx<{ status: RunStatus }[]>`select status from codex_kb.task_runs where id = ${runId}`;
    if (row?.status !== 'submitting') return false;
    await create().catch((err: unknown) => void (failure = { err }));
    return true;
  });
  if (failure) throw failure.err;
  return ran;
}

/**
 * Deletes the Workflow of a run that has ended (committed before this is called): waits for
 * a guarded create of it still in flight (whileSubmitting), so no create can make the name
 * again after the delete. False: there was no such Workflow.
 */
export async function deleteWorkflow(deps: { readonly sql: Sql; readonly workflows: Pick<WorkflowBackend, 'delete'> }, name: string): Promise<boolean> {
  await transaction(deps.sql, [createLock(name)], async () => undefined);
  return deps.workflows.delete(name);
}

async function failSubmission(deps: DispatchDeps, r: RunToSubmit, code: string, message: string): Promise<void> {
  deps.log.warn('dispatch: submission rejected', { runId: r.id, code, message });
  await transaction(deps.sql, [`idea:${r.idea_id}`], async (tx) => {
    await settleRun(tx, deps.config, r.id, { succeeded: false, errorCode: code, errorMessage: message });
  });
}

/** An ownerless run-token Secret is deleted only this long after its creation: far longer
 *  than a submission takes between its Secret and its Workflow (retries included). */
export const ORPHAN_TOKEN_GRACE_S = 300;

export interface TokenSweepReport {
  adopted: number;
  deleted: number;
}

/**
 * The tick's backstop for run-token Secrets left owner-pending: a crash or a failed patch
 * between a submission's steps, or a run that finished while it was still `submitting`.
 * A Secret whose Workflow exists is adopted by it (then garbage-collected with it). One
 * with no Workflow is deleted once it is older than ORPHAN_TOKEN_GRACE_S and its run is
 * finished; while the run is active, its re-submission will still need it. A Secret whose
 * run this database does not know is left alone: it may be another installation's.
 */
export async function sweepRunTokens(deps: DispatchDeps): Promise<TokenSweepReport> {
  const report: TokenSweepReport = { adopted: 0, deleted: 0 };
  const tokens = deps.workflows.tokens;
  if (!tokens) return report;
  const orphans = (await tokens.orphans()).slice(0, 100);
  if (orphans.length === 0) return report;
  const ids = [...new Set(orphans.flatMap((o) => (o.runId !== undefined && isUuid(o.runId) ? [o.runId] : [])))];
  const rows = ids.length === 0 ? [] : await deps.sql<{ id: string; status: RunStatus }[]>`
    select id, status from codex_kb.task_runs where id = any(${ids}::uuid[])`;
  const status = new Map(rows.map((r) => [r.id, r.status]));
  for (const o of orphans) {
    try {
      if (await tokens.adopt(o)) {
        report.adopted++;
        continue;
      }
      const run = o.runId === undefined ? undefined : status.get(o.runId);
      const finished = run !== undefined && !ACTIVE_RUN_STATUSES.includes(run);
      const old = o.createdAt !== undefined && Date.now() - o.createdAt.getTime() > ORPHAN_TOKEN_GRACE_S * 1000;
      if (finished && old && (await tokens.remove(o))) report.deleted++;
    } catch (err) {
      deps.log.warn('tick: could not sweep a run token secret', { secret: o.name, error: messageOf(err) });
    }
  }
  return report;
}
