// Who votes, and whether their vote may count. A Principal is the verified identity behind a
// request: the status API's caller (its token's holder, later the roles helper's Principal)
// or a GitHub login from a webhook. Eligibility is read from the approval row, which copied
// the effective policy's `approvals.eligible` when the approval was requested.
import type { Role } from '../policy/pack.js';

export interface Principal {
  /** The person: a login or a token's holder. Compared case-insensitively. */
  readonly name: string;
  readonly roles: readonly Role[];
  readonly teams?: readonly string[];
}

/** `approvals.eligible` as stored on the row; absent lists mean "no condition". */
export interface Eligible {
  readonly logins?: readonly string[];
  readonly teams?: readonly string[];
  readonly roles?: readonly string[];
}

/** What facts about the approval a vote is judged against. */
export interface VoteContext {
  readonly eligible: Eligible;
  /** `ideas.initiator.login`, when the idea has an initiator. */
  readonly initiator: string | null;
  /** Who authored the change (the PR's author, or what the artifacts name). */
  readonly authors: readonly string[];
  /** Names that already have a counted vote on this approval. */
  readonly voted: readonly string[];
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * Eligible when the approval names no one (every list empty), or the voter is one of the
 * listed logins, belongs to a listed team, or holds a listed role.
 */
export function isEligible(p: Principal, e: Eligible): boolean {
  const logins = e.logins ?? [];
  const teams = e.teams ?? [];
  const roles = e.roles ?? [];
  if (logins.length === 0 && teams.length === 0 && roles.length === 0) return true;
  if (logins.some((l) => same(l, p.name))) return true;
  if (teams.some((t) => (p.teams ?? []).some((pt) => same(pt, t)))) return true;
  return roles.some((r) => p.roles.includes(r as Role));
}

/**
 * Why this vote may not count, or undefined when it counts. The order is the order a person
 * reads the refusals in: a second vote first (nothing else matters then), then self-approval,
 * then eligibility.
 */
export function refusalOf(p: Principal, decision: 'approve' | 'reject', ctx: VoteContext): string | undefined {
  if (ctx.voted.some((v) => same(v, p.name))) return 'already voted';
  // Only an approval is self-serving: the initiator or the author may still stop their own change.
  if (decision === 'approve') {
    if (ctx.initiator && same(ctx.initiator, p.name)) return 'the idea\'s initiator cannot approve it';
    if (ctx.authors.some((a) => same(a, p.name))) return 'the author of the change cannot approve it';
  }
  if (!isEligible(p, ctx.eligible)) return 'not eligible: not among the approval\'s logins, teams or roles';
  return undefined;
}
