// The policy checkpoints of an idea's life, where the lifecycle asks the policy engine
// (shared/policy/evaluate.ts) and applies its decision (./escalate.ts):
//   plan                 the plan was accepted (an L0 idea's implementation waits for a human)
//   post-implementation  an implementation run completed: what it changed
//   pre-merge            the integration task was created
//   pre-deploy           the deploy task was created
// (`claim`, before a run starts, is the scheduler's: budgets.) The caller holds the idea's lock.
import type { Config } from '../config/index.js';
import type { Tx } from '../db/index.js';
import { evaluateCheckpoint, type CheckpointEvaluation, type EvaluateDeps } from '../policy/evaluate.js';
import { escalate } from './escalate.js';

type Cfg = Pick<Config, 'lifecycle' | 'topics'>;
interface RunRef { readonly id: string; readonly idea_id: string; readonly task_id: string }

export async function planCheckpoint(tx: Tx, cfg: Cfg, run: RunRef): Promise<CheckpointEvaluation> {
  const evaluation = await evaluateCheckpoint(tx, { config: cfg }, { ideaId: run.idea_id, checkpoint: 'plan', runId: run.id });
  if (evaluation.decision === 'pass') return evaluation;
  const held = await tx<{ id: string }[]>`
    select id from codex_kb.tasks where idea_id = ${run.idea_id} and stage = 'implementation' and state = 'pending'`;
  await escalate(tx, cfg, evaluation, { ideaId: run.idea_id, taskId: null, holdTaskIds: held.map((t) => t.id) });
  return evaluation;
}

/**
 * Before the task is marked succeeded: churn, path scope, required checks, sensitive paths.
 * A violation no approval can lift blocks the task (still running) and the idea at once; one
 * an approval can lift is applied once the task has succeeded (holdAfterImplementation).
 */
export async function postImplementation(tx: Tx, deps: EvaluateDeps & { config: Cfg }, run: RunRef): Promise<CheckpointEvaluation> {
  const evaluation = await evaluateCheckpoint(tx, deps, { ideaId: run.idea_id, checkpoint: 'post-implementation', taskId: run.task_id, runId: run.id });
  if (evaluation.decision === 'block') await escalate(tx, deps.config, evaluation, { ideaId: run.idea_id, taskId: run.task_id, holdTaskIds: [run.task_id] });
  return evaluation;
}

/** The task has succeeded; the idea waits (it goes on to review once released: shared/approvals/release.ts). */
export async function holdAfterImplementation(tx: Tx, cfg: Cfg, run: RunRef, evaluation: CheckpointEvaluation): Promise<void> {
  await escalate(tx, cfg, evaluation, { ideaId: run.idea_id, taskId: run.task_id, holdTaskIds: [] });
}

/** pre-merge / pre-deploy: the new stage task waits for a human, or is blocked. */
export async function stageCheckpoint(tx: Tx, cfg: Cfg, ideaId: string, checkpoint: 'pre-merge' | 'pre-deploy', taskId: string): Promise<CheckpointEvaluation> {
  const evaluation = await evaluateCheckpoint(tx, { config: cfg }, { ideaId, checkpoint, taskId });
  await escalate(tx, cfg, evaluation, { ideaId, taskId, holdTaskIds: [taskId] });
  return evaluation;
}
