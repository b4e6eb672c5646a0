// The claim checkpoint: what the policy in force for an idea says about starting one of its
// tasks now — freeze windows (a frozen deploy waits, it is never blocked) and budgets
// (enforced in the claim function itself, under the scope locks, see migration 0012).
//
// The policy is resolved once per idea per scheduling pass (`PassPolicies`), not per
// candidate row: a pass over 100 tasks of one idea costs one resolution.
import { appendAudit } from '../audit/index.js';
import type { Config } from '../config/index.js';
import { transaction, type Sql } from '../db/index.js';
import { messageOf, NotFoundError, ValidationError } from '../errors/index.js';
import { blockIdea } from '../lifecycle/advance.js';
import { SCHEDULABLE_IDEA_STATUSES, type Stage } from '../lifecycle/states.js';
import { moveTask } from '../lifecycle/transitions.js';
import { budgetVerdicts, estimateFor, hasLimit, ideaLimits, repositoryLimits, type BudgetsRule, type Filled, type Limits, type Spend } from '../policy/budgets.js';
import { judge, recordFindings, type Finding, type Verdict } from '../policy/findings.js';
import { frozenUntil } from '../policy/freeze.js';
import type { Rules } from '../policy/pack.js';
import { policyForIdea } from '../policy/store.js';
import type { Logger } from '../log/index.js';

export interface IdeaGovernance {
  readonly hash: string;
  /** The pack, `key@version`. */
  readonly policy: string;
  readonly strict: boolean;
  readonly budgets: BudgetsRule | undefined;
  readonly freeze: Filled<NonNullable<Rules['freeze']>> | undefined;
  readonly ideaBudget: Limits;
}

/** What the claim needs of one idea's policy, resolved at most once per pass. */
export class PassPolicies {
  private readonly cache = new Map<string, Promise<IdeaGovernance | undefined>>();

  constructor(private readonly sql: Sql, private readonly log?: Logger) {}

  /**
   * undefined when the idea's policy is unusable (its pack gone, an invalid merge): its tasks
   * are not claimed this pass (fail closed). A database error is thrown, as a claim's would be.
   */
  get(ideaId: string, ideaBudget: Limits | null): Promise<IdeaGovernance | undefined> {
    let got = this.cache.get(ideaId);
    if (!got) {
      got = policyForIdea(this.sql, ideaId).then(
        (eff) => ({
          hash: eff.hash, policy: `${eff.document.key}@${eff.document.version}`, strict: eff.document.strict,
          // read through the pack schema, so every defaulted field is there
          budgets: eff.document.rules.budgets as BudgetsRule | undefined,
          freeze: eff.document.rules.freeze as IdeaGovernance['freeze'],
          ideaBudget: ideaBudget ?? {},
        }),
        (err: unknown) => {
          // the database down or busy is the caller's to retry, like any claim statement
          if (!(err instanceof NotFoundError || err instanceof ValidationError)) throw err;
          this.log?.warn('scheduler: no usable policy for the idea, not claiming its tasks this pass', { ideaId, error: messageOf(err) });
          return undefined;
        },
      );
      this.cache.set(ideaId, got);
    }
    return got;
  }
}

const enforcing = (g: IdeaGovernance, mode: string) => mode === 'enforce' || (g.strict && mode === 'warn');

export interface ClaimBudget {
  /** The claim function's p_budget. */
  readonly param: { enforce: boolean; idea: Limits; repo: Limits; estimate: Spend };
  /** `budget:repo:<repository>` when the repository has a daily budget. */
  readonly lockKey?: string;
}

export function claimBudget(g: IdeaGovernance, stage: Stage, repository: string): ClaimBudget {
  const rule = g.budgets;
  const idea = ideaLimits(rule, g.ideaBudget);
  const repo = repositoryLimits(rule);
  const enforce = rule !== undefined && enforcing(g, rule.mode);
  return { param: { enforce, idea, repo, estimate: estimateFor(rule, stage) }, ...(hasLimit(repo) ? { lockKey: `budget:repo:${repository}` } : {}) };
}

interface Task {
  readonly id: string;
  readonly idea_id: string;
  readonly key: string;
  readonly stage: Stage;
  readonly repository: string;
}

// The Idea Spec's own budget applies with no budgets rule in the pack: as a warning, as before packs.
const ruleOf = (r: { mode: Finding['mode']; severity: Finding['severity'] } | undefined) => r ?? { mode: 'warn' as const, severity: 'medium' as const };

/**
 * A task of a frozen stage inside a freeze window: when enforced it stays where it is with
 * `frozen until <ISO>` and `not_before` at the window's end (passes skip it until then), and
 * true is returned (not claimed). Under evaluate/warn it is claimed; the returned finding
 * says it would have waited.
 */
export async function holdIfFrozen(sql: Sql, g: IdeaGovernance, task: Task, now: Date): Promise<{ held: boolean; finding?: Finding }> {
  const rule = g.freeze;
  if (!rule || rule.mode === 'off' || !(rule.stages as readonly string[]).includes(task.stage)) return { held: false };
  const until = frozenUntil(rule.windows, now);
  if (!until) return { held: false };
  const verdict: Verdict = {
    rule: 'freeze', outcome: 'fail', message: `frozen until ${until.toISOString()}: ${task.stage} of task ${task.key} waits for the freeze window to end`,
    properties: { until: until.toISOString(), stage: task.stage }, suggestedFix: 'nothing to do: it runs when the window ends', approvable: false,
  };
  const finding = judge(verdict, rule, g, { ideaId: task.idea_id, taskId: task.id, checkpoint: 'claim' });
  if (!finding?.enforced) return { held: false, ...(finding ? { finding } : {}) };
  const moved = await sql`
    update codex_kb.tasks set state_reason = ${`frozen until ${until.toISOString()}`}, not_before = ${until}
     where id = ${task.id} and state in ('ready', 'queued') returning id`;
  if (moved.length > 0) await recordFindings(sql, [finding], g.hash);
  return { held: true };
}

export interface SpendSeen {
  readonly idea: Spend;
  readonly repositoryToday: Spend;
  readonly estimate: Spend;
}

/** The budget findings of one claim decision (failures only: a pass is not recorded at every claim). */
export function budgetFindings(g: IdeaGovernance, task: Task, spend: SpendSeen, runId: string | null): Finding[] {
  const verdicts = budgetVerdicts({ rule: g.budgets, ideaBudget: g.ideaBudget, repository: task.repository, idea: spend.idea, repositoryToday: spend.repositoryToday, estimate: spend.estimate });
  const rule = ruleOf(g.budgets);
  return verdicts
    .filter((v) => v.outcome === 'fail')
    .map((v) => judge(v, rule, g, { ideaId: task.idea_id, taskId: task.id, runId, checkpoint: 'claim' }))
    .filter((f): f is Finding => f !== undefined);
}

/**
 * Only the repository's daily budget refused the claim: it refills at the next UTC midnight,
 * so the task waits for it like a frozen one (`not_before`, and the reason), and the idea is
 * not blocked. Returns whether that was the case.
 */
export async function deferToNextDay(sql: Sql, g: IdeaGovernance, task: Task, findings: readonly Finding[], now: Date): Promise<boolean> {
  if (findings.length === 0 || findings.some((f) => f.properties.scope !== 'repository')) return false;
  const midnight = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
  const reason = `${findings.map((f) => f.message).join('; ')}; waits until ${midnight.toISOString()}`;
  const moved = await sql`
    update codex_kb.tasks set state_reason = ${reason}, not_before = ${midnight}
     where id = ${task.id} and state in ('ready', 'queued') returning id`;
  if (moved.length > 0) await recordFindings(sql, findings, g.hash);
  return true;
}

/**
 * An enforced budget refused the claim: the task and the idea are blocked with the reason,
 * the finding recorded, the refusal audited and announced (outbox `facteur.idea.blocked`).
 * No approval lifts it: raising the budget and retrying the idea does.
 */
export async function blockOverBudget(sql: Sql, config: Pick<Config, 'topics'>, g: IdeaGovernance, task: Task, findings: readonly Finding[]): Promise<void> {
  const reason = findings.map((f) => f.message).join('; ') || 'budget exhausted';
  await transaction(sql, [`idea:${task.idea_id}`], async (tx) => {
    // another scheduler, refused at the same time, blocked the idea already: once is enough
    const [idea] = await tx<{ n: number }[]>`
      select count(*)::int as n from codex_kb.ideas where id = ${task.idea_id} and status = any(${SCHEDULABLE_IDEA_STATUSES as string[]}::text[])`;
    if (!idea?.n) return;
    if (!(await moveTask(tx, task.id, ['ready', 'queued'], 'blocked', reason))) return;
    await blockIdea(tx, task.idea_id, reason);
    await recordFindings(tx, findings, g.hash);
    await appendAudit(tx, {
      actor: 'scheduler', action: 'budget.refused', subjectType: 'task', subjectId: task.id, ideaId: task.idea_id,
      details: { checkpoint: 'claim', effectivePolicyHash: g.hash, reason },
    });
    await tx`
      insert into codex_kb.outbox (type, source, subject, topic, key, data)
      values ('facteur.idea.blocked', '/facteur/scheduler', ${task.idea_id}, ${config.topics.events}, ${task.idea_id},
              ${tx.json({ ideaId: task.idea_id, taskId: task.id, reason, rule: 'budgets', effectivePolicyHash: g.hash })})`;
  });
}
