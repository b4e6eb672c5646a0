// Concurrency limits under real concurrency: four schedulers, each on its own connection
// (as four dispatcher instances would be), race over the same ready tasks for ≥ 1000
// decisions while runs finish and tasks come back. A monitor on a fifth connection and a
// commit-time trigger record the active runs per scope; no limit may ever be exceeded.
// The negative control lives here, not in the scheduler: in its own database the test
// replaces codex_kb.claim_task with a copy of itself without the scope locks, and the same
// race, through the same scheduler code, then exceeds the limits — so the locks are what
// holds them.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { connect, type Sql } from '../../shared/db/index.js';
import { schedule } from '../../shared/scheduler/index.js';
import { createTestDb } from '../helpers/db.js';

const LIMITS = { FACTEUR_LIMIT_GLOBAL: '6', FACTEUR_LIMIT_STAGES: 'implementation=4,review=2', FACTEUR_LIMIT_REPOSITORY: '3', FACTEUR_LIMIT_IDEA: '2' };
const config = loadConfig(LIMITS);

async function seed(sql: Sql) {
  // 24 ideas over 4 repositories, 4 implementation tasks (two share a branch: one
  // workspace) and 2 review tasks each, all ready to run.
  await sql`
    with i as (
      insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status)
      select 'api', 'limits-' || n, 'Idea ' || n, 'acme/repo' || (n % 4), '{}', 'running_tasks'
        from generate_series(1, 24) n
      returning id, repository
    )
    insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, branch)
    select i.id, s.stage || '-' || k, s.stage, 'ready', 't', i.repository,
           case when s.stage = 'implementation' then 'b-' || least(k, 3) end
      from i cross join (values ('implementation'), ('review')) s(stage)
      cross join generate_series(1, 4) k
     where s.stage = 'implementation' or k <= 2`;
  // Commit-time observer: what each claiming transaction's scopes hold as it commits.
  await sql.unsafe(`
    create table public.observed (n_global int, n_stage int, n_repo int, n_idea int, n_workspace int);
    create function public.observe() returns trigger language plpgsql as $$
    begin
      insert into public.observed
      select (select count(*) from codex_kb.task_runs where status in ('submitting','running')),
             (select count(*) from codex_kb.task_runs where status in ('submitting','running') and stage = new.stage),
             (select count(*) from codex_kb.task_runs where status in ('submitting','running') and repository = new.repository),
             (select count(*) from codex_kb.task_runs where status in ('submitting','running') and idea_id = new.idea_id),
             (select count(*) from codex_kb.task_runs where status in ('submitting','running') and workspace = new.workspace);
      return null;
    end $$;
    create constraint trigger observe_claims after insert on codex_kb.task_runs
      deferrable initially deferred for each row execute function public.observe();`);
}

const LOCKS = 'perform pg_advisory_xact_lock(hashtextextended(k, 0)) from unnest(p_keys) as k order by k;';

/** The claim function's definition as the database has it (one, not overloaded). */
async function claimFunction(sql: Sql): Promise<string> {
  const defs = await sql<{ def: string }[]>`
    select pg_get_functiondef(p.oid) as def
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'codex_kb' and p.proname = 'claim_task'`;
  expect(defs).toHaveLength(1);
  return defs[0]!.def;
}

/** In this test's database only: the claim as migrated, less its scope locks. */
async function removeScopeLocks(sql: Sql): Promise<void> {
  const def = await claimFunction(sql);
  expect(def.split(LOCKS)).toHaveLength(2); // the locks as the migration wrote them, once
  await sql.unsafe(def.replace(LOCKS, 'null; -- negative control: no scope locks'));
  expect(await claimFunction(sql)).not.toContain('pg_advisory');
}

interface Peak { global: number; implementation: number; review: number; repo: number; idea: number; workspace: number }

/** The claim's counters (migrations/0022) that disagree with a count of the active runs. */
async function counterDrift(sql: Sql): Promise<{ scope: string; counted: number; actual: number }[]> {
  return sql`
    with actual as (
      select s as scope, count(*)::int as n
        from codex_kb.task_runs r, unnest(array['global', 'repo:' || r.repository, 'stage:' || r.stage]) s
       where r.status in ('submitting', 'running') group by s
    )
    select coalesce(a.scope, c.scope) as scope, coalesce(c.n, 0) as counted, coalesce(a.n, 0) as actual
      from actual a full join codex_kb.run_counts c on c.scope = a.scope
     where coalesce(c.n, 0) <> coalesce(a.n, 0)`;
}

async function race(lock: 'locked' | 'unlocked', decisions: number): Promise<{ peak: Peak; claims: number; committed: Peak; drift: unknown[] }> {
  const db = await createTestDb();
  await seed(db.sql);
  if (lock === 'unlocked') await removeScopeLocks(db.sql);
  else expect(await claimFunction(db.sql)).toContain(LOCKS);
  const schedulers = Array.from({ length: 4 }, () => connect(db.url, { max: 1 }));
  const completer = connect(db.url, { max: 2 });
  const monitor = connect(db.url, { max: 1 });
  const peak: Peak = { global: 0, implementation: 0, review: 0, repo: 0, idea: 0, workspace: 0 };
  let claims = 0;
  let done = false;
  try {
    const watching = (async () => {
      while (!done) {
        const [r] = await monitor`
          with a as (select * from codex_kb.task_runs where status in ('submitting', 'running'))
          select (select count(*) from a)::int as global,
                 (select count(*) from a where stage = 'implementation')::int as implementation,
                 (select count(*) from a where stage = 'review')::int as review,
                 coalesce((select max(n) from (select count(*) n from a group by repository) x), 0)::int as repo,
                 coalesce((select max(n) from (select count(*) n from a group by idea_id) x), 0)::int as idea,
                 coalesce((select max(n) from (select count(*) n from a where workspace is not null group by workspace) x), 0)::int as workspace`;
        for (const k of Object.keys(peak) as (keyof Peak)[]) peak[k] = Math.max(peak[k], r![k]);
      }
    })();
    const finishing = (async () => {
      // Runs finish at random and their tasks come back, so the work never runs out.
      while (!done) {
        await completer`
          with fin as (
            update codex_kb.task_runs set status = 'succeeded', completed_at = now()
             where id in (select id from codex_kb.task_runs where status = 'submitting' order by random() limit 1)
            returning task_id
          )
          update codex_kb.tasks set state = 'queued' where id in (select task_id from fin)`;
        // slower than the schedulers, so the limits are reached and contended
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    await Promise.all(
      schedulers.map(async (sql) => {
        while (claims < decisions) {
          const got = await schedule({ sql, config }, { max: 3 });
          claims += got.length;
          if (got.length === 0) await new Promise((r) => setTimeout(r, 1));
        }
      }),
    );
    done = true;
    await Promise.all([watching, finishing]);
    const [c] = await db.sql`
      select coalesce(max(n_global), 0)::int as global, coalesce(max(n_stage), 0)::int as implementation, 0 as review,
             coalesce(max(n_repo), 0)::int as repo, coalesce(max(n_idea), 0)::int as idea, coalesce(max(n_workspace), 0)::int as workspace
        from public.observed`;
    return { peak, claims, committed: c as unknown as Peak, drift: await counterDrift(db.sql) };
  } finally {
    done = true;
    await Promise.all([...schedulers, completer, monitor].map((p) => p.end()));
  }
}

describe('concurrency limits', () => {
  it('four schedulers on separate connections never exceed any limit over ≥ 1000 decisions', async () => {
    const { peak, claims, committed, drift } = await race('locked', 1000);
    expect(claims).toBeGreaterThanOrEqual(1000);
    // the counters the claim reads agree with the runs, after 1000 claims and their ends
    expect(drift).toEqual([]);
    expect(peak.global).toBeLessThanOrEqual(6);
    expect(peak.implementation).toBeLessThanOrEqual(4);
    expect(peak.review).toBeLessThanOrEqual(2);
    expect(peak.repo).toBeLessThanOrEqual(3);
    expect(peak.idea).toBeLessThanOrEqual(2);
    expect(peak.workspace).toBeLessThanOrEqual(1);
    expect(committed.global).toBeLessThanOrEqual(6);
    expect(committed.repo).toBeLessThanOrEqual(3);
    expect(committed.idea).toBeLessThanOrEqual(2);
    expect(committed.workspace).toBeLessThanOrEqual(1);
    // the limits were actually reached (the test exercised them)
    expect(peak.global).toBe(6);
  }, 120_000);

  it('with a copy of the claim function without its scope locks, the same race exceeds the limits', async () => {
    const { peak, committed } = await race('unlocked', 1000);
    const over =
      Math.max(peak.global, committed.global) > 6 || Math.max(peak.repo, committed.repo) > 3 ||
      Math.max(peak.idea, committed.idea) > 2 || Math.max(peak.workspace, committed.workspace) > 1 ||
      Math.max(peak.implementation, committed.implementation) > 4;
    expect(over).toBe(true);
  }, 120_000);

  it('the claim\'s counters follow a run however it starts and ends: claimed, settled in a transaction, deleted, truncated', async () => {
    const db = await createTestDb();
    {
      await seed(db.sql);
      const claims = await schedule({ sql: db.sql, config }, { max: 6 });
      expect(claims).toHaveLength(6);
      const count = async (scope: string) => (await db.sql<{ n: number }[]>`select n from codex_kb.run_counts where scope = ${scope}`)[0]?.n;
      expect(await count('global')).toBe(6);
      expect(await counterDrift(db.sql)).toEqual([]);
      // an end is counted at commit: inside the transaction the claim still sees the run
      await db.sql.begin(async (tx) => {
        await tx`update codex_kb.task_runs set status = 'running' where id = ${claims[0]!.runId}`;
        await tx`update codex_kb.task_runs set status = 'succeeded', completed_at = now() where id = ${claims[0]!.runId}`;
        expect((await tx<{ n: number }[]>`select n from codex_kb.run_counts where scope = 'global'`)[0]!.n).toBe(6);
      });
      expect(await count('global')).toBe(5);
      // rolled back: nothing counted
      await db.sql.begin(async (tx) => {
        await tx`update codex_kb.task_runs set status = 'failed', completed_at = now() where id = ${claims[1]!.runId}`;
        throw new Error('rollback');
      }).catch(() => undefined);
      expect(await count('global')).toBe(5);
      await db.sql`delete from codex_kb.run_events where run_id = ${claims[1]!.runId}`;
      await db.sql`delete from codex_kb.task_runs where id = ${claims[1]!.runId}`;
      expect(await count('global')).toBe(4);
      expect(await counterDrift(db.sql)).toEqual([]);
      await db.sql`truncate codex_kb.task_runs cascade`;
      expect(await count('global')).toBe(0);
      expect(await counterDrift(db.sql)).toEqual([]);
    }
  }, 60_000);
});
