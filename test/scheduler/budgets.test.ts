// Budgets before spend under real concurrency: four schedulers, each on its own connection
// (as four dispatcher instances), race over ready tasks whose ideas and repository have
// budgets. A commit-time trigger records the committed spend (finished runs, plus each
// active run's estimate or reported spend when larger) as every claim commits: it may never
// pass the budget. The negative control, as in limits.test.ts, lives in the test: in its own
// database the claim function loses its scope locks, and the same interleaving of two
// instances (one claim in flight while the other's scheduler claims) then overshoots — so the
// locks are what hold the budgets. (A free-running race rarely shows it: the schedulers pick
// the same head of the queue and the task's row lock serializes them there.)
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { connect, type Sql } from '../../shared/db/index.js';
import { activatePack, putPack, putRepositoryPolicy } from '../../shared/policy/store.js';
import { schedule, scopesOf } from '../../shared/scheduler/index.js';
import { createTestDb } from '../helpers/db.js';

const config = loadConfig({ FACTEUR_LIMIT_GLOBAL: '200', FACTEUR_LIMIT_REPOSITORY: '200', FACTEUR_LIMIT_IDEA: '50' });
const ESTIMATE = 1;

const pack = (perRepositoryPerDay: string) => `schemaVersion: 1
key: budgets
version: 1
rules:
  budgets:
    mode: enforce
    perIdea: { maxCostUsd: 1000 }
    perRepositoryPerDay: ${perRepositoryPerDay}
    estimates: { implementation: { costUsd: ${ESTIMATE}, tokens: 100 } }
`;

async function seed(sql: Sql, o: { ideas: number; tasks: number; repos: number; ideaBudget: number | null; repoBudget: string }) {
  await putPack(sql, pack(o.repoBudget), 'api', 'test');
  await activatePack(sql, 'budgets', 1, 'test');
  for (let r = 0; r < o.repos; r++) await putRepositoryPolicy(sql, `acme/budget${r}`, { pack: { key: 'budgets', version: 1 }, overrides: {}, repoLocal: false }, 'test');
  const budget = o.ideaBudget === null ? {} : { maxCostUsd: o.ideaBudget };
  await sql`
    with i as (
      insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status, budget)
      select 'api', 'budget-' || n, 'Idea ' || n, 'acme/budget' || (n % ${o.repos}), '{}', 'running_tasks', ${sql.json(budget)}
        from generate_series(1, ${o.ideas}) n
      returning id, repository
    )
    insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, branch)
    select i.id, 'impl-' || k, 'implementation', 'ready', 't', i.repository, 'b-' || k
      from i cross join generate_series(1, ${o.tasks}) k`;
  // Commit-time observer: the committed spend of the claimed run's idea and repository as the claim commits.
  await sql.unsafe(`
    create table public.observed (idea_id uuid, idea_cost numeric, repository text, repo_cost numeric);
    create function public.observe() returns trigger language plpgsql as $$
    begin
      insert into public.observed select new.idea_id, s.idea_cost, new.repository, s.repo_cost
        from codex_kb.committed_spend(new.idea_id, new.repository) s;
      return null;
    end $$;
    create constraint trigger observe_claims after insert on codex_kb.task_runs
      deferrable initially deferred for each row execute function public.observe();`);
}

const LOCKS = 'perform pg_advisory_xact_lock(hashtextextended(k, 0)) from unnest(p_keys) as k order by k;';

async function removeScopeLocks(sql: Sql): Promise<void> {
  const [f] = await sql<{ def: string }[]>`
    select pg_get_functiondef(p.oid) as def from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'codex_kb' and p.proname = 'claim_task'`;
  expect(f!.def.split(LOCKS)).toHaveLength(2);
  await sql.unsafe(f!.def.replace(LOCKS, 'null; -- negative control: no scope locks'));
}

interface Outcome {
  /** The most committed spend seen for one idea / one repository as a claim committed. */
  readonly ideaPeak: number;
  readonly repoPeak: number;
  readonly claims: number;
  readonly sql: Sql;
}

async function race(lock: 'locked' | 'unlocked', o: Parameters<typeof seed>[1]): Promise<Outcome> {
  const db = await createTestDb();
  await seed(db.sql, o);
  if (lock === 'unlocked') await removeScopeLocks(db.sql);
  const schedulers = Array.from({ length: 4 }, () => connect(db.url, { max: 1 }));
  const completer = connect(db.url, { max: 1 });
  let claims = 0;
  let done = false;
  try {
    // Runs finish at random, each having spent at most its estimate.
    const finishing = (async () => {
      while (!done) {
        await completer`
          with fin as (
            update codex_kb.task_runs set status = 'succeeded', completed_at = now(), cost_usd = round((random() * ${ESTIMATE})::numeric, 4)
             where id in (select id from codex_kb.task_runs where status = 'submitting' order by random() limit 1)
            returning task_id
          )
          update codex_kb.tasks set state = 'succeeded' where id in (select task_id from fin)`;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await Promise.all(
      schedulers.map(async (sql) => {
        let idle = 0;
        while (idle < 5) {
          const got = await schedule({ sql, config }, { max: 2 });
          claims += got.length;
          idle = got.length === 0 ? idle + 1 : 0;
          if (got.length === 0) await new Promise((r) => setTimeout(r, 5));
        }
      }),
    );
    done = true;
    await finishing;
    const [peak] = await db.sql<{ idea: string; repo: string }[]>`
      select coalesce(max(idea_cost), 0)::text as idea, coalesce(max(repo_cost), 0)::text as repo from public.observed`;
    return { ideaPeak: Number(peak!.idea), repoPeak: Number(peak!.repo), claims, sql: db.sql };
  } finally {
    done = true;
    await Promise.all([...schedulers, completer].map((p) => p.end()));
  }
}

describe('budgets at the claim, under concurrency', () => {
  it("four schedulers never commit an idea past its budget (the Idea Spec's, lower than the pack's); the idea is blocked, announced and found", async () => {
    const { ideaPeak, claims, sql } = await race('locked', { ideas: 12, tasks: 16, repos: 1, ideaBudget: 3.5, repoBudget: '{}' });
    expect(claims).toBeGreaterThanOrEqual(12 * 3);
    expect(ideaPeak).toBeLessThanOrEqual(3.5);
    const spent = await sql<{ cost: string }[]>`select sum(cost_usd)::text as cost from codex_kb.task_runs group by idea_id`;
    for (const s of spent) expect(Number(s.cost)).toBeLessThanOrEqual(3.5);
    // every idea ran out: blocked with the reason, one task blocked, an outbox event, an enforced finding
    const ideas = await sql<{ status: string; status_reason: string }[]>`select status, status_reason from codex_kb.ideas`;
    expect(ideas.filter((i) => !(i.status === 'blocked' && i.status_reason.startsWith('budget exhausted: the idea')))).toEqual([]);
    const [blocked] = await sql`select count(*)::int as n from codex_kb.tasks where state = 'blocked' and state_reason like 'budget exhausted%'`;
    expect(blocked!.n).toBe(12);
    const [events] = await sql`select count(*)::int as n from codex_kb.outbox where type = 'facteur.idea.blocked' and data->>'rule' = 'budgets'`;
    expect(events!.n).toBe(12);
    const [found] = await sql`select count(*)::int as n from codex_kb.policy_findings where checkpoint = 'claim' and rule = 'budgets' and enforced and result = 'fail'`;
    expect(found!.n).toBe(12);
    // every run records the policy that let it start and the estimate it was counted at
    const [runs] = await sql`select count(*)::int as n from codex_kb.task_runs where effective_policy_hash ~ '^[0-9a-f]{64}$' and estimate_cost_usd = ${ESTIMATE}`;
    expect(runs!.n).toBe(claims);
  }, 120_000);

  it('four schedulers never commit a repository past its daily budget; the tasks wait for the next UTC day, the ideas are not blocked', async () => {
    const { repoPeak, claims, sql } = await race('locked', { ideas: 6, tasks: 6, repos: 1, ideaBudget: null, repoBudget: '{ maxCostUsd: 9.5 }' });
    // runs that finish under their estimate free budget for more
    expect(claims).toBeGreaterThanOrEqual(9);
    expect(repoPeak).toBeLessThanOrEqual(9.5);
    const waiting = await sql<{ state: string; state_reason: string; not_before: Date }[]>`
      select state, state_reason, not_before from codex_kb.tasks where state = 'ready' and not_before is not null`;
    expect(waiting.length).toBeGreaterThan(0);
    const midnight = new Date();
    midnight.setUTCHours(24, 0, 0, 0);
    for (const t of waiting) {
      expect(t.state_reason).toMatch(/^budget exhausted: repository acme\/budget0 today \(UTC\).*waits until /);
      expect(t.not_before.toISOString()).toBe(midnight.toISOString());
    }
    const [blocked] = await sql`select count(*)::int as n from codex_kb.ideas where status = 'blocked'`;
    expect(blocked!.n).toBe(0);
  }, 120_000);

  // Deterministic interleaving: instance A's claim is in flight (its transaction open, its run
  // inserted, not committed) when instance B's scheduler claims another task of the same idea.
  // A holds the task B tries second (B goes by id among equals), so the two do not meet on a task row.
  async function inFlight(lock: 'locked' | 'unlocked') {
    const db = await createTestDb();
    await seed(db.sql, { ideas: 1, tasks: 2, repos: 1, ideaBudget: 1.5, repoBudget: '{}' });
    if (lock === 'unlocked') await removeScopeLocks(db.sql);
    const a = connect(db.url, { max: 1 });
    const b = connect(db.url, { max: 1 });
    try {
      const [t1] = await db.sql<{ id: string; idea_id: string; branch: string }[]>`select id, idea_id, branch from codex_kb.tasks order by id desc limit 1`;
      const task = { idea_id: t1!.idea_id, stage: 'implementation' as const, repository: 'acme/budget0', branch: t1!.branch, base: 'main' };
      const { workspace, keys } = scopesOf(task, config.limits);
      const budget = { enforce: true, idea: { maxCostUsd: 1.5 }, repo: {}, estimate: { costUsd: ESTIMATE, tokens: 100 } };
      let commitA!: () => void;
      const committed = new Promise<void>((r) => (commitA = r));
      let claimedA!: () => void;
      const claimed = new Promise<void>((r) => (claimedA = r));
      const instanceA = a.begin(async (tx) => {
        const [row] = await tx`
          select run_id from codex_kb.claim_task(${t1!.id}, 0, ${randomUUID()}, 'wf-a', ${keys}::text[], 'implementation', 'acme/budget0',
            ${t1!.idea_id}, ${workspace}, 200, 1000000000, 200, 50, ${['running_tasks']}::text[], null, 'hash', ${tx.json(budget)})`;
        expect(row!.run_id).not.toBeNull();
        claimedA();
        await committed;
      });
      await claimed;
      let bDone = false;
      const instanceB = schedule({ sql: b, config }).then((c) => ((bDone = true), c));
      await new Promise((r) => setTimeout(r, 400));
      const bWaited = !bDone;
      commitA();
      await instanceA;
      const claimsB = await instanceB;
      const [spend] = await db.sql<{ idea_cost: string }[]>`select idea_cost::text from codex_kb.committed_spend(${t1!.idea_id}, 'acme/budget0')`;
      return { bWaited, claimsB: claimsB.length, committed: Number(spend!.idea_cost) };
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  }

  it("with the locks, a claim in flight on another connection makes the scheduler wait for it, then refuse: the budget holds", async () => {
    const r = await inFlight('locked');
    expect(r).toEqual({ bWaited: true, claimsB: 0, committed: 1 });
  }, 60_000);

  it('with a copy of the claim function without its scope locks, the same interleaving commits the idea past its budget', async () => {
    const r = await inFlight('unlocked');
    expect(r).toMatchObject({ claimsB: 1, committed: 2 });
  }, 60_000);
});
