// Autonomy levels (seed 002): what an idea may do without a human.
//   L0 observe     plan only: nothing is implemented without a human's approval (plan)
//   L1 edit & test a human approves the merge and the deploy (pre-merge, pre-deploy)
//   L2 experiment  a human approves the deploy (pre-deploy)
//   L3 online      none
// The level granted is the one the idea asks for, capped by the pack's `maxLevel`; a level
// above L1 also needs its preconditions (acceptance criteria and success metrics in the
// idea's intent, monitoring thresholds configured) or the idea runs at L1, and an advisory
// finding says why. Every pass names the level and the policy hash that allowed it.
import type { Checkpoint } from '../findings.js';
import type { Level } from '../pack.js';
import { LEVEL_RANK, type Rule, type RuleConfig, type RuleContext, type RuleVerdict } from './context.js';

/** The lowest level that passes each checkpoint without a human. */
const NEEDS: Partial<Record<Checkpoint, Level>> = { plan: 'L1', 'pre-merge': 'L2', 'pre-deploy': 'L3' };
const WHAT: Partial<Record<Checkpoint, string>> = { plan: 'implementation', 'pre-merge': 'the merge', 'pre-deploy': 'the deploy' };

export interface Grant {
  readonly requested: Level;
  readonly granted: Level;
  /** Why the granted level is lower than the one requested. */
  readonly why: readonly string[];
}

export function grantedLevel(ctx: RuleContext, cfg: RuleConfig<'autonomy'>): Grant {
  const requested = ctx.idea.autonomyLevel;
  const why: string[] = [];
  let granted: Level = requested;
  if (LEVEL_RANK(granted) > LEVEL_RANK(cfg.maxLevel)) {
    granted = cfg.maxLevel;
    why.push(`the pack allows at most ${cfg.maxLevel}`);
  }
  if (LEVEL_RANK(granted) > 1) {
    const missing: string[] = [];
    if (cfg.preconditions.acceptanceCriteria && ctx.idea.acceptanceCriteria.length === 0) missing.push('the idea has no acceptance criteria');
    if (cfg.preconditions.successMetrics && ctx.idea.successMetrics.length === 0) missing.push('the idea has no success metrics');
    if (cfg.preconditions.monitoring && Object.keys(ctx.monitorThresholds).length === 0) missing.push('no monitoring thresholds are configured (FACTEUR_MONITOR_THRESHOLDS)');
    if (missing.length > 0) {
      granted = 'L1';
      why.push(...missing);
    }
  }
  return { requested, granted, why };
}

export const autonomy: Rule<'autonomy'> = {
  name: 'autonomy',
  checkpoints: ['plan', 'pre-merge', 'pre-deploy'],
  evaluate(ctx, cfg) {
    const g = grantedLevel(ctx, cfg);
    const properties = { requested: g.requested, granted: g.granted, maxLevel: cfg.maxLevel, policyHash: ctx.policy.hash, ...(g.why.length ? { capped: g.why } : {}) };
    const out: RuleVerdict[] = [];
    if (g.why.length > 0 && ctx.checkpoint === 'plan') {
      out.push({
        rule: 'autonomy', outcome: 'fail', advisory: true, properties,
        message: `autonomy level ${g.requested} is not granted, the idea runs at ${g.granted}: ${g.why.join('; ')}`,
        suggestedFix: 'add acceptance criteria and success metrics to the Idea Spec, configure monitoring thresholds, or ask for a pack that allows the level',
      });
    }
    const needs = NEEDS[ctx.checkpoint];
    if (!needs) return out;
    const capped = g.granted !== g.requested ? ` (capped from ${g.requested})` : '';
    if (LEVEL_RANK(g.granted) >= LEVEL_RANK(needs)) {
      out.push({ rule: 'autonomy', outcome: 'pass', properties, message: `autonomy level ${g.granted}${capped} allows ${WHAT[ctx.checkpoint]} without a human (policy ${ctx.policy.hash.slice(0, 12)})` });
    } else {
      out.push({
        rule: 'autonomy', outcome: 'fail', approvable: true, properties,
        message: `autonomy level ${g.granted}${capped} does not allow ${WHAT[ctx.checkpoint]} (${ctx.checkpoint}) without a human`,
        suggestedFix: `approve ${WHAT[ctx.checkpoint]}, or ask for level ${needs}`,
      });
    }
    return out;
  },
};
