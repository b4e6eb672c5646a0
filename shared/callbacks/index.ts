// Run events from Argo steps (CONTRACTS §7): authenticated per run, idempotent per `seq`,
// fenced per attempt. `started` and `heartbeat` record progress, `artifact` stores a
// result, `completed` settles the run and moves the idea on (shared/lifecycle/advance).
//
// Nothing is said about a run before the caller proves it holds its token: an unknown run
// id, a malformed one and a bad token all get the same 401 with the same body, after the
// same work (one lookup, one HMAC), so the endpoint cannot be used to find which runs exist.
import { z } from 'zod';
import type { Config } from '../config/index.js';
import { transaction, type Sql } from '../db/index.js';
import { ConflictError, UnauthorizedError } from '../errors/index.js';
import { parseJsonWith } from '../validation/index.js';
import { settleRun } from '../lifecycle/advance.js';
import type { Stage } from '../lifecycle/states.js';
import { moveRun, moveTask } from '../lifecycle/transitions.js';
import { runTokenMatches } from '../lifecycle/tokens.js';
import { isUuid } from '../validation/index.js';

import { ARTIFACT_KINDS, ARTIFACT_SCHEMAS } from './artifacts.js';
import { recordUsage, stopIfOverBudget, type StopAnswer } from './budget-stop.js';

export { ARTIFACT_KINDS } from './artifacts.js';

const eventSchema = z
  .object({
    seq: z.number().int().min(1).max(2_147_483_647),
    type: z.enum(['started', 'heartbeat', 'artifact', 'completed']),
    at: z.string().datetime({ offset: true }).optional(),
    // stored as `real`: a fraction needs no more than four decimals, and 1e-185 would underflow (fuzzing)
    progress: z.number().min(0).max(1).transform((p) => Math.round(p * 10_000) / 10_000).optional(),
    message: z.string().max(4000).optional(),
    artifact: z.object({ kind: z.enum(ARTIFACT_KINDS), data: z.unknown() }).optional(),
    outcome: z.enum(['succeeded', 'failed']).optional(),
    error: z.object({ code: z.string().min(1).max(200), message: z.string().max(4000).default('') }).optional(),
    usage: z
      .object({
        // summed as bigint and numeric(14, 6) later: bounded here, so a sum never overflows into a 5xx
        inputTokens: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
        outputTokens: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
        costUsd: z.number().min(0).max(1_000_000).optional(),
      })
      .optional(),
  })
  .superRefine((e, ctx) => {
    if (e.type === 'artifact' && !e.artifact) ctx.addIssue({ code: 'custom', path: ['artifact'], message: 'is required for type artifact' });
    if (e.type === 'artifact' && e.artifact && e.artifact.data === undefined) ctx.addIssue({ code: 'custom', path: ['artifact', 'data'], message: 'is required' });
    const shape = e.artifact && e.artifact.data !== undefined ? ARTIFACT_SCHEMAS[e.artifact.kind] : undefined;
    if (shape) {
      const checked = shape.safeParse(e.artifact!.data);
      if (!checked.success) {
        for (const issue of checked.error.issues.slice(0, 50)) {
          ctx.addIssue({ code: 'custom', path: ['artifact', 'data', ...issue.path.map((k) => (typeof k === 'symbol' ? String(k) : k))], message: issue.message });
        }
      }
    }
    if (e.type === 'completed' && !e.outcome) ctx.addIssue({ code: 'custom', path: ['outcome'], message: 'is required for type completed' });
  });

export type RunEvent = z.output<typeof eventSchema>;

export function parseRunEvent(body: Buffer): RunEvent {
  return parseJsonWith(body, eventSchema, 'run event');
}

export interface CallbackDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'callbackSecret' | 'lifecycle' | 'topics' | 'policy'>;
}

export interface CallbackResult {
  readonly status: 200 | 202;
  readonly body: Record<string, unknown>;
  /** The run finished in this call: the caller runs the scheduler for its successors. */
  readonly settled: boolean;
  readonly ideaId: string;
}

interface RunRow {
  id: string;
  idea_id: string;
  task_id: string;
  attempt: number;
  status: string;
  stage: Stage;
  task_attempts: number;
}

/** The one answer to every caller that did not prove it holds the run's token. */
const NOT_AUTHORIZED = 'the bearer token is not valid for this run';
// Looked up in place of an id that is not a uuid, so that answer costs the same query.
// gen_random_uuid() never yields it.
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * The run the bearer token is valid for, or the one 401 every other caller gets (an unknown
 * run, a malformed id and a bad token answer alike, so the answer tells nobody which runs exist).
 */
export async function authenticateRun(deps: CallbackDeps, runId: string, bearer: string | undefined): Promise<{ id: string; idea_id: string; attempt: number }> {
  const secret = deps.config.callbackSecret;
  if (!secret) throw new UnauthorizedError('callbacks are not configured (FACTEUR_CALLBACK_SECRET)');
  const [peek] = await deps.sql<{ id: string; idea_id: string; attempt: number }[]>`
    select id, idea_id, attempt from codex_kb.task_runs where id = ${isUuid(runId) ? runId : NIL_UUID}`;
  // The HMAC is checked whether or not the run exists (against attempt 1 when it does not),
  // and only then is the lookup's result used.
  const valid = runTokenMatches(secret, peek?.id ?? runId, peek?.attempt ?? 1, bearer);
  if (!peek || !valid) throw new UnauthorizedError(NOT_AUTHORIZED);
  return peek;
}

export async function recordRunEvent(deps: CallbackDeps, runId: string, bearer: string | undefined, body: Buffer): Promise<CallbackResult> {
  const peek = await authenticateRun(deps, runId, bearer);
  const event = parseRunEvent(body);
  return (await transaction(deps.sql, [`idea:${peek.idea_id}`], async (tx) => {
    // after the lock: what this seq already answered, and the run as it is now
    const [run] = await tx<(RunRow & { seen: Record<string, unknown> | null })[]>`
      select r.id, r.idea_id, r.task_id, r.attempt, r.status, r.stage, t.attempts as task_attempts,
             (select e.response from codex_kb.run_events e where e.run_id = r.id and e.seq = ${event.seq}) as seen
        from codex_kb.task_runs r join codex_kb.tasks t on t.id = r.task_id where r.id = ${runId}`;
    if (!run) throw new UnauthorizedError(NOT_AUTHORIZED); // runs are never deleted: unreachable
    if (run.seen) return { status: 200, body: run.seen, settled: false, ideaId: peek.idea_id };
    if (run.attempt < run.task_attempts) throw new ConflictError('stale_attempt', `attempt ${run.attempt} was superseded by attempt ${run.task_attempts}`);
    if (!['submitting', 'running'].includes(run.status)) throw new ConflictError('run_finished', `the run is already ${run.status}`);
    let settled = false;
    let runStatus = run.status;
    let stop: StopAnswer | undefined;
    switch (event.type) {
      case 'started':
        if (run.status === 'submitting') {
          await moveRun(tx, run.id, 'submitting', 'running');
          await moveTask(tx, run.task_id, 'submitting', 'running');
          runStatus = 'running';
        }
        await tx`update codex_kb.task_runs set started_at = coalesce(started_at, now()), last_heartbeat_at = now() where id = ${run.id}`;
        break;
      case 'heartbeat':
        await tx`update codex_kb.task_runs set last_heartbeat_at = now(), progress = coalesce(${event.progress ?? null}, progress) where id = ${run.id}`;
        // usage so far: recorded at once, and past an enforced budget the run stops here
        if (event.usage) {
          await recordUsage(tx, run.id, event.usage);
          stop = await stopIfOverBudget(tx, deps.config, run, 'heartbeat');
          if (stop) runStatus = 'cancelled';
        }
        break;
      case 'artifact':
        await tx`
          insert into codex_kb.artifacts (idea_id, task_id, run_id, artifact_type, checksum, data)
          values (${run.idea_id}, ${run.task_id}, ${run.id}, ${event.artifact!.kind},
                  encode(sha256(convert_to(${JSON.stringify(event.artifact!.data)}, 'UTF8')), 'hex'), ${tx.json(event.artifact!.data as never)})`;
        await tx`update codex_kb.task_runs set last_heartbeat_at = now() where id = ${run.id}`;
        // what planning found in the repository becomes part of the intent: its toolchain
        // hypotheses (seed 003's intent_v1), the latest planning attempt's winning
        if (event.artifact!.kind === 'toolchain' && run.stage === 'planning') {
          await tx`
            update codex_kb.ideas
               set intent = jsonb_set(coalesce(intent, '{}'::jsonb), '{toolchainHypotheses}', ${tx.json(toolchainHypotheses(event.artifact!.data) as never)}::jsonb)
             where id = ${run.idea_id}`;
        }
        break;
      case 'completed':
        // the last usage report is judged like a heartbeat's: work that ran past an enforced
        // budget is not accepted (the run is cancelled, the idea blocked until a human raises it)
        if (event.usage) {
          await recordUsage(tx, run.id, event.usage);
          stop = await stopIfOverBudget(tx, deps.config, run, 'completed');
          if (stop) {
            runStatus = 'cancelled';
            break;
          }
        }
        {
          // a "succeeded" without its stage's result is settled as failed: what it became
          const became = await settleRun(tx, deps.config, run, {
            succeeded: event.outcome === 'succeeded',
            ...(event.error ? { errorCode: event.error.code, errorMessage: event.error.message } : {}),
            ...(event.usage ? { usage: event.usage } : {}),
            actor: `run:${run.id}`,
          });
          settled = became !== false;
          if (became) runStatus = became;
        }
        break;
    }
    const response = { runId: run.id, seq: event.seq, type: event.type, recorded: true, runStatus, ...(stop ? { stop } : {}) };
    await tx`
      insert into codex_kb.run_events (idea_id, run_id, task_id, seq, event_type, actor, payload, response)
      values (${run.idea_id}, ${run.id}, ${run.task_id}, ${event.seq}, ${'callback.' + event.type}, ${`run:${run.id}`},
              ${tx.json(summary(event) as never)}, ${tx.json(response as never)})`;
    // a stopped run frees its capacity like a settled one: the caller runs the scheduler
    return { status: 202, body: response, settled: settled || stop !== undefined, ideaId: run.idea_id };
  }));
}

/** What the timeline keeps of an event: not artifact bodies (those are in artifacts). */
function summary(e: RunEvent): Record<string, unknown> {
  return {
    ...(e.at ? { at: e.at } : {}),
    ...(e.progress !== undefined ? { progress: e.progress } : {}),
    ...(e.message ? { message: e.message } : {}),
    ...(e.artifact ? { artifact: e.artifact.kind } : {}),
    ...(e.outcome ? { outcome: e.outcome } : {}),
    ...(e.error ? { error: e.error } : {}),
    ...(e.usage ? { usage: e.usage } : {}),
  };
}

/** The intent's view of a `toolchain` artifact: per root, what was detected, how sure, from what. */
function toolchainHypotheses(data: unknown): unknown[] {
  const adapters = (data as { adapters?: unknown[] } | null)?.adapters ?? [];
  return adapters.map((a) => {
    const x = a as { toolchain: string; root: string; confidence: number; evidence: string[] };
    return { toolchain: x.toolchain, root: x.root, confidence: x.confidence, evidence: x.evidence.slice(0, 20), source: (data as { source: string }).source };
  });
}
