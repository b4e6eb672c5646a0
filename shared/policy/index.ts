// Policy at the checkpoints of an idea's life (plan, pre-merge, pre-deploy): the rules of
// the effective policy are evaluated, every finding is recorded in policy_findings with the
// effective policy's hash, and the evaluation is audited. Findings are warnings unless the
// policy enforces (FACTEUR_POLICY_ENFORCE); an enforced failure asks a human for approval.
//
// Rules: autonomy levels (L0 observes only, L1 edits and tests — a human approves merges and
// deploys, L2 experiments — a human approves deploys, L3 runs online), cost and token
// budgets per idea, and labels that mark an idea high-risk (approval before merge/deploy).
import { createHash, randomUUID } from 'node:crypto';
import { appendAudit } from '../audit/index.js';
import type { Config } from '../config/index.js';
import type { Queryable } from '../db/index.js';
import { NotFoundError } from '../errors/index.js';
import { canonicalJson } from '../intent/index.js';

export const CHECKPOINTS = ['plan', 'pre-merge', 'pre-deploy'] as const;
export type Checkpoint = (typeof CHECKPOINTS)[number];
type PolicyConfig = Pick<Config, 'policy'>;

/** What each autonomy level may do without a human, by checkpoint. */
const AUTONOMY: Record<string, readonly Checkpoint[]> = {
  L0: ['plan'],
  L1: ['plan'],
  L2: ['plan', 'pre-merge'],
  L3: ['plan', 'pre-merge', 'pre-deploy'],
};

export interface EffectivePolicy {
  readonly version: 1;
  readonly enforce: boolean;
  readonly autonomy: Record<string, readonly Checkpoint[]>;
  readonly highRiskLabels: readonly string[];
  readonly budgetWarnAt: number;
}

export function effectivePolicy(cfg: PolicyConfig): { policy: EffectivePolicy; hash: string } {
  const policy: EffectivePolicy = { version: 1, enforce: cfg.policy.enforce, autonomy: AUTONOMY, highRiskLabels: [...cfg.policy.highRiskLabels].sort(), budgetWarnAt: 0.8 };
  return { policy, hash: createHash('sha256').update(canonicalJson(policy)).digest('hex') };
}

export interface Finding {
  readonly policyKey: string;
  readonly status: 'pass' | 'warn' | 'fail';
  readonly enforced: boolean;
  readonly message: string;
}

export interface Evaluation {
  readonly checkpoint: Checkpoint;
  readonly findings: readonly Finding[];
  readonly effectivePolicyHash: string;
  /** An enforced finding failed: a human must approve before the checkpoint is passed. */
  readonly approvalRequired: boolean;
}

export async function evaluatePolicy(sql: Queryable, cfg: PolicyConfig, ideaId: string, checkpoint: Checkpoint, taskId: string | null = null): Promise<Evaluation> {
  const [idea] = await sql<{ autonomy_level: string; labels: string[]; budget: { maxCostUsd?: number; maxTokens?: number }; cost: string; tokens: string }[]>`
    select i.autonomy_level, i.labels, i.budget,
           coalesce((select sum(cost_usd) from codex_kb.task_runs where idea_id = i.id), 0)::text as cost,
           coalesce((select sum(coalesce((usage->>'inputTokens')::bigint, 0) + coalesce((usage->>'outputTokens')::bigint, 0))
                       from codex_kb.task_runs where idea_id = i.id), 0)::text as tokens
      from codex_kb.ideas i where i.id = ${ideaId}`;
  if (!idea) throw new NotFoundError(`no idea ${ideaId}`);
  const { policy, hash } = effectivePolicy(cfg);
  const rule = (policyKey: string, failed: boolean, failMessage: string, passMessage: string, warn = false): Finding => {
    if (!failed) return { policyKey, status: warn ? 'warn' : 'pass', enforced: false, message: passMessage };
    // warnings first: a failure blocks only when the policy enforces
    return { policyKey, status: policy.enforce ? 'fail' : 'warn', enforced: policy.enforce, message: failMessage };
  };
  const allowed = policy.autonomy[idea.autonomy_level] ?? [];
  const findings: Finding[] = [
    rule('autonomy', !allowed.includes(checkpoint),
      `autonomy level ${idea.autonomy_level} does not allow passing ${checkpoint} without a human`,
      `autonomy level ${idea.autonomy_level} allows ${checkpoint}`),
  ];
  const cost = Number(idea.cost);
  const tokens = Number(idea.tokens);
  if (idea.budget.maxCostUsd !== undefined) {
    const share = cost / idea.budget.maxCostUsd;
    findings.push(rule('budget.cost', share >= 1, `spent $${cost.toFixed(2)} of a $${idea.budget.maxCostUsd} budget`,
      `spent $${cost.toFixed(2)} of $${idea.budget.maxCostUsd}`, share >= policy.budgetWarnAt));
  }
  if (idea.budget.maxTokens !== undefined) {
    const share = tokens / idea.budget.maxTokens;
    findings.push(rule('budget.tokens', share >= 1, `used ${tokens} of ${idea.budget.maxTokens} tokens`,
      `used ${tokens} of ${idea.budget.maxTokens} tokens`, share >= policy.budgetWarnAt));
  }
  if (checkpoint !== 'plan') {
    const risky = idea.labels.map((l) => l.toLowerCase()).filter((l) => policy.highRiskLabels.includes(l));
    findings.push(rule('high-risk-labels', risky.length > 0, `high-risk label(s) ${risky.join(', ')} need a human before ${checkpoint}`, 'no high-risk labels'));
  }
  const evaluationId = randomUUID();
  await sql`
    insert into codex_kb.policy_findings (evaluation_id, idea_id, task_id, checkpoint, policy, rule, result, severity, mode, enforced, would_block, message, effective_policy_hash)
    select ${evaluationId}, ${ideaId}, ${taskId}, ${checkpoint}, 'env@0', f.rule, f.result, 'medium', f.mode, f.enforced, f.would_block, f.message, ${hash}
      from jsonb_to_recordset(${sql.json(findings.map((f) => ({ rule: f.policyKey, result: f.status, mode: policy.enforce ? 'enforce' : 'warn', enforced: f.enforced, would_block: f.status !== 'pass' && !f.enforced && f.message !== '', message: f.message })) as never)})
        as f(rule text, result text, mode text, enforced boolean, would_block boolean, message text)`;
  const approvalRequired = findings.some((f) => f.status === 'fail' && f.enforced);
  await appendAudit(sql, {
    actor: 'policy', action: 'policy.evaluated', subjectType: 'idea', subjectId: ideaId, ideaId,
    details: { checkpoint, effectivePolicyHash: hash, approvalRequired, findings: findings.filter((f) => f.status !== 'pass').map((f) => `${f.policyKey}: ${f.status}`) },
  });
  return { checkpoint, findings, effectivePolicyHash: hash, approvalRequired };
}

export async function listChecks(sql: Queryable, ideaId: string) {
  const rows = await sql`
    select checkpoint, rule as policy_key, result as status, enforced, message, effective_policy_hash, task_id, created_at
      from codex_kb.policy_findings where idea_id = ${ideaId} order by id`;
  return rows.map((r) => ({
    checkpoint: r.checkpoint, policyKey: r.policy_key, status: r.status, enforced: r.enforced, message: r.message,
    effectivePolicyHash: r.effective_policy_hash, taskId: r.task_id, at: (r.created_at as Date).toISOString(),
  }));
}
