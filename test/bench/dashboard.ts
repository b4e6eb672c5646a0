// `npm run bench -- dashboard`: the dashboard's pages against the plain JSON list, in one run
// on one database: 10 000 ideas (the ideas page, its counts by state and filters), and one
// idea with a 500-task plan, 500 runs and their events (the idea page: DAG, timeline,
// findings, cost). Server time = the status function's handler, in process, until the body
// is a string (HTML rendered, JSON serialized): no network, no client. Interleaved A/B so
// drift on a noisy machine hits both sides alike; the target is under 150 ms per page.
import { createStatusHandler } from '../../functions/status/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { connect } from '../../shared/db/index.js';
import type { HttpRequest } from '../../shared/http/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { splitTarget } from '../../shared/http/index.js';

const IDEAS = 10_000;
const PLAN_TASKS = 500;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const TARGET_MS = 150;

export async function seedDashboard(url: string): Promise<string> {
  const sql = connect(url, { max: 1 });
  try {
    const states = ['registered', 'planning', 'running_tasks', 'qa_review', 'awaiting_approval', 'blocked', 'paused', 'completed', 'completed', 'completed', 'cancelled', 'failed'];
    await sql`
      insert into codex_kb.ideas (source_type, source_ref, title, repository, status, labels, payload, created_at, updated_at)
      select 'api', 'bench-' || g, 'Bench idea ' || g || ' — add a setting for ' || md5(g::text),
             'acme/repo-' || (g % 40), (${states}::text[])[1 + g % ${states.length}], array['l' || (g % 7)], '{}'::jsonb,
             now() - make_interval(secs => g * 37), now() - make_interval(secs => g * 11)
        from generate_series(1, ${IDEAS}) g`;
    const [idea] = await sql<{ id: string }[]>`
      insert into codex_kb.ideas (source_type, source_ref, title, repository, status, payload, intent_anchor)
      values ('api', 'bench-plan', 'A 500-task plan', 'acme/big', 'running_tasks', '{}', 'INTENT bench: a large plan') returning id`;
    const id = idea!.id;
    const taskStates = ['succeeded', 'succeeded', 'running', 'queued', 'pending', 'failed'];
    await sql`
      insert into codex_kb.tasks (idea_id, key, stage, state, title, repository)
      select ${id}, 'task-' || g, case when g = 1 then 'planning' when g > ${PLAN_TASKS - 3} then 'review' else 'implementation' end,
             (${taskStates}::text[])[1 + g % ${taskStates.length}], 'Task ' || g, 'acme/big'
        from generate_series(1, ${PLAN_TASKS}) g`;
    // each task depends on one or two earlier ones: a plan about 25 layers deep
    await sql`
      insert into codex_kb.task_dependencies (task_id, depends_on_task_id)
      select t.id, d.id from codex_kb.tasks t join codex_kb.tasks d on d.idea_id = t.idea_id
       where t.idea_id = ${id} and t.key <> 'task-1'
         and d.key in ('task-' || greatest(1, (substring(t.key from 6)::int) / 2), 'task-' || greatest(1, substring(t.key from 6)::int - 20))
         and d.id <> t.id
      on conflict do nothing`;
    await sql`
      insert into codex_kb.task_runs (task_id, idea_id, attempt, stage, status, queued_at, started_at, completed_at, cost_usd, external_run_id)
      select t.id, ${id}, 1, t.stage, case when t.state in ('succeeded', 'failed', 'running', 'queued') then t.state else 'succeeded' end,
             now() - interval '2 hours' + make_interval(secs => n * 10), now() - interval '2 hours' + make_interval(secs => n * 10 + 3),
             case when t.state in ('running', 'queued') then null else now() - interval '2 hours' + make_interval(secs => n * 10 + 60) end,
             0.01, 'wf-' || t.key
        from (select *, row_number() over (order by key) as n from codex_kb.tasks where idea_id = ${id}) t`;
    await sql`
      insert into codex_kb.run_events (idea_id, run_id, task_id, seq, event_type, actor, payload)
      select ${id}, r.id, r.task_id, 1, 'run.started', 'bench', '{"attempt":1}' from codex_kb.task_runs r where r.idea_id = ${id}`;
    await sql`analyze`;
    return id;
  } finally {
    await sql.end();
  }
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

export async function benchDashboard(url: string): Promise<void> {
  const ideaId = await seedDashboard(url);
  const sql = connect(url, { max: 10 });
  const handler = createStatusHandler({ sql, config: loadConfig({ FACTEUR_DASHBOARD_LIVE: 'poll' }), log: silentLogger });
  const request = (target: string, accept: string): HttpRequest => ({ method: 'GET', ...splitTarget(target), headers: { accept }, body: Buffer.alloc(0) });
  const cases: [string, string, string][] = [
    ['json_list', '/v1/ideas', 'application/json'],
    // the same idea as JSON: what the idea page costs beyond the status API's own read
    ['json_idea_500', `/v1/ideas/${ideaId}`, 'application/json'],
    ['ideas_page', '/ui/ideas', 'text/html'],
    ['ideas_page_all', '/ui/ideas?state=all&repository=acme/repo-7', 'text/html'],
    ['idea_page_500', `/ui/idea?id=${ideaId}`, 'text/html'],
    ['idea_page_500_all_nodes', `/ui/idea?id=${ideaId}&dag=all`, 'text/html'],
  ];
  const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  const once = async ([name, target, accept]: [string, string, string], record: boolean) => {
    const t0 = performance.now();
    const out = await handler(request(target, accept));
    const size = typeof out.body === 'string' ? out.body.length : JSON.stringify(out.body).length;
    const ms = performance.now() - t0;
    if (out.status !== 200) throw new Error(`${target} answered ${out.status}: ${String(out.body).slice(0, 300)}`);
    if (record) times.get(name)!.push(ms);
    return size;
  };
  for (const c of cases) for (let i = 0; i < 3; i++) await once(c, false);
  const sizes = new Map<string, number>();
  for (let r = 0; r < ROUNDS; r++) for (const c of cases) sizes.set(c[0], await once(c, true));
  const base = percentile(times.get('json_list')!, 0.5);
  console.log(`dashboard: ${IDEAS} ideas, one idea with ${PLAN_TASKS} tasks; ${ROUNDS} rounds, handler time until the body is a string`);
  for (const [name] of cases) {
    const xs = times.get(name)!;
    const p50 = percentile(xs, 0.5);
    const p95 = percentile(xs, 0.95);
    // judged on the median: on a shared 2-core machine the tail is other processes' doing
    const verdict = name.startsWith('json_') ? '' : ` under_${TARGET_MS}ms=${p50 < TARGET_MS}`;
    const vsIdea = name.startsWith('idea_page') ? ` ratio_to_json_idea=${(p50 / percentile(times.get('json_idea_500')!, 0.5)).toFixed(2)}` : '';
    console.log(`RESULT ${name}_p50_ms=${p50.toFixed(1)} p95_ms=${p95.toFixed(1)} ratio_to_json_list=${(p50 / base).toFixed(2)}${vsIdea} bytes=${sizes.get(name)}${verdict}`);
  }
  await sql.end();
}
