// The policy engine at one checkpoint of an idea's life: the policy in force now
// (policyForIdea: pack → repository → repo-local), the facts its rules read (./gather.ts),
// each rule of the checkpoint (./rules) judged under its mode and the pack's strict mode,
// the findings appended (history kept), the idea stamped with the policy's hash, and the
// evaluation audited. What to do about it is the decision:
//   pass      nothing enforced failed
//   approval  an enforced failure a human's approval can lift
//   block     an enforced failure no approval can lift (a path-scope violation)
// Applying the decision (awaiting_approval, blocked) is the lifecycle's (shared/lifecycle/escalate.ts).
import { randomUUID } from 'node:crypto';
import { auditInsert } from '../audit/index.js';
import type { Config } from '../config/index.js';
import type { Queryable } from '../db/index.js';
import { messageOf } from '../errors/index.js';
import type { Clock } from '../scheduler/clock.js';
import type { EffectivePolicy } from './effective.js';
import { findingsInsert, judge, summarize, type Checkpoint, type Finding, type FindingRule, type Scope, type Summary } from './findings.js';
import { gatherContext } from './gather.js';
import { grantedLevel, repoLocalVerdicts, REPO_LOCAL_RULE, rulesAt, type RuleVerdict } from './rules/index.js';
import { policyForIdea } from './store.js';

export interface EvaluateDeps {
  readonly config: Pick<Config, 'lifecycle'>;
  /** What "today" and "this week" are counted from (change budgets); the database's now() when absent. */
  readonly clock?: Clock;
}

export interface CheckpointInput {
  readonly ideaId: string;
  readonly checkpoint: Checkpoint;
  readonly taskId?: string | null;
  readonly runId?: string | null;
}

export type Decision = 'pass' | 'approval' | 'block';

export interface CheckpointEvaluation {
  readonly evaluationId: string;
  readonly checkpoint: Checkpoint;
  readonly findings: readonly Finding[];
  /** The effective policy's hash: on every finding, on the idea, in the audit log. */
  readonly hash: string;
  readonly summary: Summary;
  readonly decision: Decision;
  /** What a person reads: the enforced failures' messages (empty on pass). */
  readonly reason: string;
  readonly policy: Pick<EffectivePolicy, 'document' | 'hash'>;
}

/** One rule's verdicts, judged; a rule that throws is an `error` finding, never a crashed checkpoint. */
function judged(name: FindingRule, run: () => RuleVerdict[], rule: { mode: Finding['mode']; severity: Finding['severity'] }, pack: { policy: string; strict: boolean }, scope: Scope): Finding[] {
  let verdicts: RuleVerdict[];
  try {
    verdicts = run();
  } catch (err) {
    verdicts = [{ rule: name, outcome: 'error', message: `rule ${name} could not be evaluated: ${messageOf(err)}`.slice(0, 2000) }];
  }
  return verdicts.flatMap((v) => {
    // an advisory verdict is shown, never enforced, and would not have blocked anything
    const f = v.advisory
      ? judge(v, { mode: rule.mode === 'enforce' ? 'warn' : rule.mode, severity: rule.severity }, { ...pack, strict: false }, scope)
      : judge(v, rule, pack, scope);
    return f ? [v.advisory ? { ...f, wouldBlock: false } : f] : [];
  });
}

export async function evaluateCheckpoint(sql: Queryable, deps: EvaluateDeps, input: CheckpointInput): Promise<CheckpointEvaluation> {
  // the policy's read and the facts' reads go out together: one round trip, not two
  const policyRead = policyForIdea(sql, input.ideaId);
  const [policy, ctx] = await Promise.all([
    policyRead,
    gatherContext(sql, { monitorThresholds: deps.config.lifecycle.monitorThresholds, ...(deps.clock ? { clock: deps.clock } : {}) }, input, policyRead),
  ]);
  const doc = policy.document;
  const pack = { policy: `${doc.key}@${doc.version}`, strict: doc.strict };
  const scope: Scope = { ideaId: input.ideaId, taskId: input.taskId ?? null, runId: input.runId ?? null, checkpoint: input.checkpoint };
  const findings: Finding[] = [];
  for (const rule of rulesAt(input.checkpoint)) {
    // left out of the pack: off, unless the rule says what it is then (intentDrift: warn)
    // (a fallback is never made enforcing by the pack's strict mode: only naming the rule does that)
    const named = doc.rules[rule.name];
    const cfg = named ?? rule.fallback;
    if (!cfg) continue;
    findings.push(...judged(rule.name === 'intentDrift' ? 'intent.drift' : rule.name, () => rule.evaluate(ctx, cfg as never), cfg as { mode: Finding['mode']; severity: Finding['severity'] }, named ? pack : { ...pack, strict: false }, scope));
  }
  if (input.checkpoint === 'plan') findings.push(...judged('repoLocal', () => repoLocalVerdicts(ctx), REPO_LOCAL_RULE, pack, scope));
  const evaluationId = randomUUID();
  const enforced = findings.filter((f) => f.enforced);
  const decision: Decision = enforced.some((f) => !f.approvable) ? 'block' : enforced.length > 0 ? 'approval' : 'pass';
  // a block is said by what blocks; an approval by everything a person approves
  const reasons = (decision === 'block' ? enforced.filter((f) => !f.approvable) : enforced).map((f) => f.message);
  const reason = reasons.join('; ').slice(0, 4000);
  const summary = summarize(findings);
  const level = doc.rules.autonomy ? grantedLevel(ctx, doc.rules.autonomy as never) : undefined;
  const audit = auditInsert(sql, {
    actor: 'policy', action: 'policy.evaluated', subjectType: 'idea', subjectId: input.ideaId, ideaId: input.ideaId,
    details: {
      checkpoint: input.checkpoint, evaluationId, effectivePolicyHash: policy.hash, policy: pack.policy, decision, summary,
      ...(level ? { autonomy: { requested: level.requested, granted: level.granted } } : {}),
      ...(input.taskId ? { taskId: input.taskId } : {}), ...(input.runId ? { runId: input.runId } : {}),
      failing: findings.filter((f) => f.result === 'fail' || f.result === 'warn' || f.result === 'error').map((f) => `${f.rule}: ${f.result}${f.enforced ? ' (enforced)' : ''}`),
    },
  });
  // One statement (a completion's hop makes one of these): the findings, the idea stamped with
  // the policy's hash (unless it has it), a run evaluated without one stamped too (a run keeps
  // the policy it was claimed under), and the evaluation audited.
  await sql`
    with findings as (${findingsInsert(sql, evaluationId, findings, policy.hash)}),
         idea as (update codex_kb.ideas set effective_policy_hash = ${policy.hash}
                   where id = ${input.ideaId} and effective_policy_hash is distinct from ${policy.hash}),
         run as (update codex_kb.task_runs set effective_policy_hash = ${policy.hash}
                  where id = ${input.runId ?? null}::uuid and effective_policy_hash is null)
    ${audit}`;
  return { evaluationId, checkpoint: input.checkpoint, findings, hash: policy.hash, summary, decision, reason, policy };
}

/** Every finding of an idea, oldest first: the history of its evaluations. */
export async function listFindings(sql: Queryable, ideaId: string) {
  const rows = await sql`
    select evaluation_id, checkpoint, policy, rule, result, severity, mode, enforced, would_block, message, suggested_fix,
           properties, effective_policy_hash, task_id, run_id, created_at
      from codex_kb.policy_findings where idea_id = ${ideaId} order by id`;
  return rows.map((r) => ({
    evaluationId: r.evaluation_id, checkpoint: r.checkpoint, policy: r.policy, rule: r.rule, result: r.result, severity: r.severity,
    mode: r.mode, enforced: r.enforced, wouldBlock: r.would_block, message: r.message, suggestedFix: r.suggested_fix, properties: r.properties,
    effectivePolicyHash: r.effective_policy_hash, taskId: r.task_id, runId: r.run_id, at: (r.created_at as Date).toISOString(),
  }));
}
