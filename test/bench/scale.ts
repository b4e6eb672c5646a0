// `npm run bench -- scale`: the hot paths with a small history and again with a large one,
// on one database, in one run. History is finished work — completed ideas, succeeded tasks,
// their succeeded runs — loaded with triggers off (it is the past, not events to react to);
// the active set is the same in both phases: 40 ideas with a running run each (a fresh
// heartbeat), and a fresh pending task per round for the claim.
//   tick            dispatch's tick (shared/dispatch/engine.ts) with nothing due;
//   claim           the scheduler claiming one pending task (promotion, policy, limits, claim);
//   status_list     GET /v1/ideas (the status function's handler, in process);
//   ideas_page      GET /ui/ideas (the dashboard's ideas page).
// Each prints its p50 at both sizes and their ratio; `RESULT scale_ratio` is the largest of
// them (the goal: ≤ 2 at 1 M runs against 1 k). BENCH_SCALE_RUNS sets the large size.
import { createStatusHandler } from '../../functions/status/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { connect, type Sql } from '../../shared/db/index.js';
import { tick } from '../../shared/dispatch/engine.js';
import type { WorkflowBackend } from '../../shared/dispatch/index.js';
import { splitTarget, type HttpRequest } from '../../shared/http/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { schedule } from '../../shared/scheduler/index.js';
import { percentile } from './kb-seed.js';

const SMALL = 1_000;
const LARGE = Number(process.env.BENCH_SCALE_RUNS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const RUNS_PER_IDEA = 10;
const ACTIVE = 40;

/** Grows the finished history to `total` runs (RUNS_PER_IDEA a completed idea), triggers off. */
async function growHistory(sql: Sql, from: number, total: number): Promise<void> {
  const firstIdea = from / RUNS_PER_IDEA + 1;
  const lastIdea = total / RUNS_PER_IDEA;
  const STEP = 20_000;
  for (let start = firstIdea; start <= lastIdea; start += STEP) {
    const end = Math.min(lastIdea, start + STEP - 1);
    await sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`
        with i as (
          insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status, created_at, updated_at)
          select 'api', 'history-' || g, 'History ' || g, 'history/repo-' || (g % 200), '{}', 'completed',
                 now() - make_interval(secs => g), now() - make_interval(secs => g)
            from generate_series(${start}::int, ${end}::int) g
          returning id, repository, created_at
        ), t as (
          insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, branch, attempts)
          select i.id, 'task-' || k, case when k = 1 then 'planning' when k = ${RUNS_PER_IDEA} then 'deploy' else 'implementation' end,
                 'succeeded', 'Task ' || k, i.repository, 'facteur/h/' || k, 1
            from i, generate_series(1, ${RUNS_PER_IDEA}) k
          returning id, idea_id, stage, repository
        )
        insert into codex_kb.task_runs (task_id, idea_id, attempt, status, external_run_id, stage, repository, workspace,
                                        queued_at, submitted_at, started_at, completed_at)
        select t.id, t.idea_id, 1, 'succeeded', 'wf-' || t.id, t.stage, t.repository, t.repository || '#' || t.id,
               i.created_at, i.created_at, i.created_at, i.created_at + interval '5 minutes'
          from t join i on i.id = t.idea_id`;
    });
  }
  await sql`analyze`;
}

/** The active set: ACTIVE running ideas, each with a run whose heartbeat stays fresh for the bench. */
async function seedActive(sql: Sql): Promise<void> {
  await sql`
    with i as (
      insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status)
      select 'api', 'active-' || g, 'Active ' || g, 'active/repo-' || (g % 8), '{}', 'running_tasks' from generate_series(1, ${ACTIVE}) g
      returning id, repository
    ), t as (
      insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, branch, attempts)
      select id, 'running', 'implementation', 'running', 'Running', repository, 'facteur/a/' || id, 1 from i returning id, idea_id, repository
    )
    insert into codex_kb.task_runs (task_id, idea_id, attempt, status, external_run_id, stage, repository, workspace, queued_at, submitted_at, started_at, last_heartbeat_at)
    select id, idea_id, 1, 'running', 'wf-active-' || id, 'implementation', repository, repository || '#' || id, now(), now(), now(), now() + interval '1 day' from t`;
}

/** One pending task with no dependency in an active idea, for one claim. */
async function addPending(sql: Sql, round: string): Promise<void> {
  await sql`
    insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, branch)
    select id, 'pending-' || ${round}, 'implementation', 'pending', 'Pending', repository, 'facteur/p/' || ${round}
      from codex_kb.ideas where source_ref = 'active-1' and status = 'running_tasks'`;
}

/** What the claim made becomes history: the run and its task succeeded (the next tick has nothing to resubmit). */
async function settleClaims(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`update codex_kb.task_runs set status = 'succeeded', completed_at = now() where status in ('submitting', 'queued')`;
    await tx`update codex_kb.tasks set state = 'succeeded' where key like 'pending-%' and state <> 'succeeded'`;
  });
}

/** A backend the measured tick must never reach: it has nothing due. */
const refusingBackend: WorkflowBackend = {
  namespace: 'bench',
  submit: () => Promise.reject(new Error('scale bench: the tick submitted a Workflow, but nothing was due')),
  delete: () => Promise.reject(new Error('scale bench: the tick deleted a Workflow, but nothing was due')),
};

export async function benchScale(url: string): Promise<void> {
  const sql = connect(url, { max: 4 });
  // limits wide enough for the active set plus one claim: the bench measures the claim's cost, not a full scope
  const config = loadConfig({
    FACTEUR_DASHBOARD_LIVE: 'poll', FACTEUR_LIMIT_GLOBAL: '1000', FACTEUR_LIMIT_REPOSITORY: '1000', FACTEUR_LIMIT_IDEA: '1000',
    FACTEUR_LIMIT_STAGES: 'planning=1000,implementation=1000,review=1000,integration=1000,deploy=1000',
  });
  const status = createStatusHandler({ sql, config, log: silentLogger });
  const get = (target: string, accept: string): HttpRequest => ({ method: 'GET', ...splitTarget(target), headers: { accept }, body: Buffer.alloc(0) });
  const ops: Record<string, (round: string) => Promise<void>> = {
    tick: async () => {
      await tick({ sql, config, log: silentLogger, workflows: refusingBackend, callbackBaseUrl: 'http://callbacks.bench' });
    },
    claim: async (round) => {
      const claims = await schedule({ sql, config, log: silentLogger }, { max: 1 });
      if (claims.length !== 1) throw new Error(`scale bench: the claim of round ${round} claimed ${claims.length} tasks`);
    },
    status_list: async () => {
      const out = await status(get('/v1/ideas', 'application/json'));
      if (out.status !== 200) throw new Error(`GET /v1/ideas answered ${out.status}`);
    },
    ideas_page: async () => {
      const out = await status(get('/ui/ideas', 'text/html'));
      if (out.status !== 200) throw new Error(`GET /ui/ideas answered ${out.status}`);
    },
  };
  const measure = async (phase: string): Promise<Map<string, number>> => {
    const p50s = new Map<string, number>();
    for (const [name, op] of Object.entries(ops)) {
      const times: number[] = [];
      for (let r = 0; r < ROUNDS + 3; r++) {
        // the claim's pending task is added before the clock starts, its settling after it stops
        if (name === 'claim') await addPending(sql, `${phase}-${r}`);
        const t0 = performance.now();
        await op(`${phase}-${r}`);
        if (r >= 3) times.push(performance.now() - t0);
        if (name === 'claim') await settleClaims(sql);
      }
      p50s.set(name, percentile(times, 0.5));
    }
    return p50s;
  };
  try {
    await seedActive(sql);
    const t0 = performance.now();
    await growHistory(sql, 0, SMALL);
    const small = await measure('small');
    await growHistory(sql, SMALL, LARGE);
    console.log(`scale: history grown from ${SMALL} to ${LARGE} runs in ${((performance.now() - t0) / 1000).toFixed(0)}s; ${ROUNDS} rounds each, p50`);
    const large = await measure('large');
    let worst = 0;
    for (const name of Object.keys(ops)) {
      const ratio = large.get(name)! / small.get(name)!;
      worst = Math.max(worst, ratio);
      console.log(`RESULT scale_${name}_small_ms=${small.get(name)!.toFixed(2)} large_ms=${large.get(name)!.toFixed(2)} ratio=${ratio.toFixed(2)}`);
    }
    console.log(`RESULT scale_ratio=${worst.toFixed(2)} runs=${LARGE} under_2x=${worst <= 2}`);
  } finally {
    await sql.end();
  }
}
