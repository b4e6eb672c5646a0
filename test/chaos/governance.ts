// The governed load: the chaos repositories run under an enforcing pack, so the governance
// invariants check something. Budgets are enforced (every stage estimated at what a step
// double reports, $0.01), and the label `chaos-risk` is high risk at pre-merge and
// pre-deploy, asking 2 votes of 5 named people. The voter double plays those people through
// the status API while the faults go on: for every pending approval it sends the initiator's
// own approval (refused), an outsider's (refused), the first approver's vote twice at once to
// two instances (counted once), then the second approver's (which decides). One risky idea in
// five has its first approval rejected instead, and must end blocked.
import type { Sql } from '../../shared/db/index.js';
import { activatePack, putPack, putRepositoryPolicy } from '../../shared/policy/store.js';
import type { Fleet } from './fleet.js';
import type { History, VoteRecord } from './history.js';
import { RISK_LABEL } from './ideas.js';
import { backoff, send, sleep } from './net.js';
import { rngFor } from './rng.js';

export const APPROVERS = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;
const STAGES = ['planning', 'implementation', 'review', 'integration', 'deploy'];

export const CHAOS_PACK = `schemaVersion: 1
key: chaos-governed
version: 1
description: the chaos harness's governed load — budgets and high-risk approvals enforced
rules:
  budgets:
    mode: enforce
    estimates:
${STAGES.map((s) => `      ${s}: { costUsd: 0.01, tokens: 2000 }`).join('\n')}
  highRisk:
    mode: enforce
    labels: [${RISK_LABEL}]
    planRisk: false
approvals:
  required: 2
  eligible:
    logins: [${APPROVERS.join(', ')}]
    roles: []
`;

/** The chaos pack, active, selected by every chaos repository (before any idea arrives). */
export async function installGovernance(db: Sql, repositories: readonly string[]): Promise<void> {
  await putPack(db, CHAOS_PACK, 'api', 'chaos-harness');
  await activatePack(db, 'chaos-governed', 1, 'chaos-harness');
  for (const repo of repositories) {
    await putRepositoryPolicy(db, repo, { pack: { key: 'chaos-governed', version: 1 }, overrides: {}, repoLocal: false }, 'chaos-harness');
  }
}

interface Pending {
  readonly id: string;
  readonly ideaId: string;
}

export class VoterDouble {
  private readonly seen = new Set<string>();
  private readonly inflight = new Set<Promise<void>>();
  private stopped = false;
  private loop: Promise<void> | undefined;
  /** The first approval of each idea tagged `reject` is rejected; later ones are approved. */
  private readonly rejectFirst: Set<string>;
  private readonly initiators: Map<string, string>;

  constructor(private readonly o: { seed: number; fleet: Fleet; history: History; db: Sql; statusToken: string; pollMs?: number }) {
    const risky = [...o.history.ideas.values()].flatMap((i) => (i.gov?.kind === 'risky' ? [[`Chaos idea ${i.tag} [chaos:${i.tag}]`, i.gov] as const] : []));
    this.rejectFirst = new Set(risky.filter(([, g]) => g.reject).map(([title]) => title));
    this.initiators = new Map(risky.map(([title, g]) => [title, g.initiator]));
  }

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        await sleep(this.o.pollMs ?? 300);
        const pending = await this.pending().catch(() => [] as (Pending & { title: string })[]);
        for (const p of pending) {
          if (this.seen.has(p.id) || this.stopped) continue;
          this.seen.add(p.id);
          const run = this.vote(p).catch((err) => void this.o.history.notes.push(`voter double on approval ${p.id}: ${(err as Error).message}`)).finally(() => this.inflight.delete(run));
          this.inflight.add(run);
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.allSettled([...this.inflight]);
  }

  /** Pending approvals, read from the database: what a person sees on the dashboard. */
  private async pending(): Promise<(Pending & { title: string })[]> {
    return this.o.db<(Pending & { title: string })[]>`
      select a.id, a.idea_id as "ideaId", i.title from codex_kb.approvals a join codex_kb.ideas i on i.id = a.idea_id
       where a.status = 'pending' order by a.created_at limit 200`;
  }

  private async vote(p: Pending & { title: string }): Promise<void> {
    const r = rngFor(this.o.seed, 'vote', p.id);
    await sleep(r.int(50, 800)); // a person takes a moment
    const initiator = this.initiators.get(p.title);
    const reject = this.rejectFirst.delete(p.title);
    const [first, second] = r.shuffle([...APPROVERS]).slice(0, 2) as [string, string];
    if (initiator) await this.cast(p, initiator, 'approve', 'self');
    await this.cast(p, 'mallory', 'approve', 'outsider');
    if (reject) {
      await this.cast(p, first, 'reject', 'count');
      return;
    }
    // the same person, twice at once, to two instances: counted once
    await Promise.all([this.cast(p, first, 'approve', 'count'), this.cast(p, first, 'approve', 'duplicate')]);
    await this.cast(p, second, 'approve', 'count');
  }

  /** One vote, retried like a person pressing again after an error (5xx, no answer). */
  private async cast(p: Pending, voter: string, decision: 'approve' | 'reject', why: VoteRecord['why']): Promise<void> {
    const r = rngFor(this.o.seed, 'cast', p.id, voter, why);
    for (let attempt = 1; attempt <= 60 && !this.stopped; attempt++) {
      const inst = await this.o.fleet.route('status', r, 5000);
      if (!inst) continue;
      try {
        const res = await send(inst.url, {
          method: 'POST',
          path: `/v1/approvals/${p.id}/votes`,
          headers: { authorization: `Bearer ${this.o.statusToken}`, 'x-facteur-actor': voter, 'content-type': 'application/json' },
          body: JSON.stringify({ decision, reason: `chaos ${why}` }),
          timeoutMs: 30_000,
        });
        this.o.history.status('status<-voters', res.status);
        if (res.status === 429 || res.status >= 500) {
          await sleep(backoff(attempt, 100, 2000, r.next));
          continue;
        }
        this.o.history.votes.push({ approvalId: p.id, ideaId: p.ideaId, voter, decision, why, status: res.status, body: res.json ?? res.text });
        return;
      } catch {
        this.o.history.status('status<-voters', 'net');
        await sleep(backoff(attempt, 100, 2000, r.next));
      }
    }
    this.o.history.notes.push(`voter ${voter} gave up on approval ${p.id}`);
  }
}
