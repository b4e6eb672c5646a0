// The invariant registry: each invariant is a named module `(history, db) → {name,
// violations, examples}` checked once, at the end, on the recorded history and the
// database. To add one (a policy budget, the knowledge base, a notifier): write a module
// exporting an Invariant and list it in INVARIANTS; `npm run chaos` prints its line and
// fails when it has violations.
import type { Sql } from '../../../shared/db/index.js';
import type { History } from '../history.js';
import { approvalVotes } from './approvals.js';
import { auditChain } from './audit-chain.js';
import { badInput } from './bad-input.js';
import { budgetsNeverOvershot } from './budgets.js';
import { duplicateEffects } from './duplicate-effects.js';
import { eventsLost } from './events-lost.js';
import { fencing } from './fencing.js';
import { ideasLost } from './ideas-lost.js';
import { instanceCrashes } from './instance-crashes.js';
import { kbContext, kbFinetuneOnce, kbReflections } from './knowledge.js';
import { limitViolations } from './limits.js';
import { notificationsOnce } from './notifications.js';
import { wrongOutcomes } from './wrong-outcomes.js';

export interface InvariantResult {
  readonly name: string;
  readonly violations: number;
  /** A few violations, each one line a person can act on. */
  readonly examples: readonly string[];
  /** One line of context (what was checked, how much). */
  readonly info?: string;
}

export interface Invariant {
  readonly name: string;
  readonly description: string;
  check(history: History, db: Sql): Promise<InvariantResult>;
}

export const INVARIANTS: readonly Invariant[] = [
  ideasLost, duplicateEffects, limitViolations, auditChain, badInput, eventsLost, fencing, wrongOutcomes, instanceCrashes,
  budgetsNeverOvershot, approvalVotes, notificationsOnce, kbContext, kbReflections, kbFinetuneOnce,
];

export const MAX_EXAMPLES = 8;

export function result(name: string, problems: readonly string[], info?: string): InvariantResult {
  return { name, violations: problems.length, examples: problems.slice(0, MAX_EXAMPLES), ...(info ? { info } : {}) };
}

/** Runs every invariant; one that throws counts as one violation (its error is the example). */
export async function checkAll(history: History, db: Sql, invariants: readonly Invariant[] = INVARIANTS): Promise<InvariantResult[]> {
  const out: InvariantResult[] = [];
  for (const inv of invariants) {
    try {
      out.push(await inv.check(history, db));
    } catch (err) {
      out.push({ name: inv.name, violations: 1, examples: [`the check itself failed: ${(err as Error).stack ?? String(err)}`] });
    }
  }
  return out;
}
