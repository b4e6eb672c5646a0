// Findings in the PolicyReport result shape (Kubernetes wg-policy): what one rule said about
// one scope at one checkpoint, appended per evaluation to policy_findings (history kept).
//
// How a rule's verdict becomes a result, by the rule's mode (and the pack's strict mode):
//   off       the rule is not evaluated, nothing is recorded
//   evaluate  a failure is recorded as `fail`, not enforced, `wouldBlock` (record only: the
//             status API shows it only when asked for every finding)
//   warn      a failure is recorded as `warn`, `wouldBlock`; strict mode makes it `enforce`
//   enforce   a failure is recorded as `fail`, enforced: the checkpoint stops
// A rule that passes is `pass`; one that does not apply here is `skip`; one that could not
// be evaluated (an artifact missing or malformed) is `error`, enforced like a failure.
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../db/index.js';
import type { Mode, RuleName, Severity } from './pack.js';

export const CHECKPOINTS = ['plan', 'claim', 'post-implementation', 'pre-merge', 'pre-deploy'] as const;
export type Checkpoint = (typeof CHECKPOINTS)[number];
export const RESULTS = ['pass', 'fail', 'warn', 'error', 'skip'] as const;
export type Result = (typeof RESULTS)[number];

export interface Scope {
  readonly ideaId: string;
  readonly taskId?: string | null;
  readonly runId?: string | null;
  readonly checkpoint: Checkpoint;
}

/**
 * A pack's rule, or `repoLocal`: what the evaluator says about the repository's own policy
 * file, or `intent.drift`: the findings of the pack's `intentDrift` rule (the name).
 */
export type FindingRule = RuleName | 'repoLocal' | 'intent.drift';

/** What a rule says, before its mode is applied. */
export interface Verdict {
  readonly rule: FindingRule;
  readonly outcome: 'pass' | 'fail' | 'error' | 'skip';
  readonly message: string;
  readonly suggestedFix?: string;
  readonly properties?: Record<string, unknown>;
  /** An enforced failure a human's approval can lift (a scope violation, say, cannot). */
  readonly approvable?: boolean;
}

export interface Finding {
  /** The pack, `key@version`. */
  readonly policy: string;
  readonly rule: FindingRule;
  readonly result: Result;
  readonly severity: Severity;
  readonly mode: Mode;
  readonly enforced: boolean;
  /** Not enforced, but would have stopped the checkpoint under `enforce`. */
  readonly wouldBlock: boolean;
  readonly approvable: boolean;
  readonly message: string;
  readonly suggestedFix?: string;
  readonly scope: Scope;
  readonly properties: Record<string, unknown>;
}

/** A verdict under its rule's mode and the pack's strict mode; undefined when the rule is off. */
export function judge(v: Verdict, rule: { mode: Mode; severity: Severity }, pack: { policy: string; strict: boolean }, scope: Scope): Finding | undefined {
  if (rule.mode === 'off') return undefined;
  const mode: Mode = pack.strict && rule.mode === 'warn' ? 'enforce' : rule.mode;
  const failed = v.outcome === 'fail' || v.outcome === 'error';
  const enforced = failed && mode === 'enforce';
  const result: Result = !failed ? v.outcome : v.outcome === 'error' ? 'error' : mode === 'warn' ? 'warn' : 'fail';
  return {
    policy: pack.policy, rule: v.rule, result, severity: rule.severity, mode, enforced, wouldBlock: failed && !enforced,
    approvable: v.approvable ?? true, message: v.message, ...(v.suggestedFix ? { suggestedFix: v.suggestedFix } : {}),
    scope, properties: v.properties ?? {},
  };
}

export interface Summary {
  readonly pass: number;
  readonly fail: number;
  readonly warn: number;
  readonly error: number;
  readonly skip: number;
  /** Failures not enforced (evaluate, warn): what enforcing would have stopped. */
  readonly wouldHaveBlocked: number;
  readonly enforced: number;
}

export function summarize(findings: readonly Pick<Finding, 'result' | 'wouldBlock' | 'enforced'>[]): Summary {
  const s = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0, wouldHaveBlocked: 0, enforced: 0 };
  for (const f of findings) {
    s[f.result]++;
    if (f.wouldBlock) s.wouldHaveBlocked++;
    if (f.enforced) s.enforced++;
  }
  return s;
}

/** The findings as the rows `findingsInsert` writes. */
function findingRows(findings: readonly Finding[]) {
  return findings.map((f) => ({
    idea_id: f.scope.ideaId, task_id: f.scope.taskId ?? null, run_id: f.scope.runId ?? null, checkpoint: f.scope.checkpoint,
    policy: f.policy, rule: f.rule, result: f.result, severity: f.severity, mode: f.mode, enforced: f.enforced,
    would_block: f.wouldBlock, message: f.message, suggested_fix: f.suggestedFix ?? null, properties: { ...f.properties, approvable: f.approvable },
  }));
}

/** The INSERT of one evaluation's findings, to run alone or as a step of a larger statement. */
export function findingsInsert(sql: Queryable, evaluationId: string, findings: readonly Finding[], effectivePolicyHash: string) {
  return sql`
    insert into codex_kb.policy_findings (evaluation_id, idea_id, task_id, run_id, checkpoint, policy, rule, result, severity, mode,
                                          enforced, would_block, message, suggested_fix, properties, effective_policy_hash)
    select ${evaluationId}, r.idea_id, r.task_id, r.run_id, r.checkpoint, r.policy, r.rule, r.result, r.severity, r.mode,
           r.enforced, r.would_block, r.message, r.suggested_fix, r.properties, ${effectivePolicyHash}
      from jsonb_to_recordset(${sql.json(findingRows(findings) as never)}) as r(idea_id uuid, task_id uuid, run_id uuid, checkpoint text, policy text,
           rule text, result text, severity text, mode text, enforced boolean, would_block boolean, message text, suggested_fix text, properties jsonb)`;
}

/** Appends one evaluation's findings; returns its id. */
export async function recordFindings(sql: Queryable, findings: readonly Finding[], effectivePolicyHash: string): Promise<string> {
  const evaluationId = randomUUID();
  if (findings.length === 0) return evaluationId;
  await findingsInsert(sql, evaluationId, findings, effectivePolicyHash);
  return evaluationId;
}
