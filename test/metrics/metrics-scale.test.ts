// A scrape must stay cheap as history grows: every windowed query reads through an index of
// migration 0015. Measured here: the same recent activity (5 000 runs of 100 ideas in the
// window), first alone, then beside 200 000 (METRICS_SCALE_RUNS: 1 000 000) historical runs; the scrape's
// median time is printed and must stay far below a Prometheus scrape timeout, and grow by little.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { collectMetrics, renderPrometheus } from '../../shared/metrics/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

const config = loadConfig({});
// 200 000 inside `npm test` (seeding is most of the time); METRICS_SCALE_RUNS=1000000 for the full figure
const HISTORY = Number(process.env.METRICS_SCALE_RUNS ?? 200_000);
const RECENT = 5_000;
/** Runs per idea: the history is 20 000 ideas' worth, the window 100 ideas'. */
const PER_IDEA = 50;
let db: TestDb;

beforeAll(async () => {
  db = await createTestDb();
});

/**
 * `n` finished runs claimed between `fromH` and `toH` hours ago, PER_IDEA to an idea (ideas
 * and tasks made here too); every seventh one failed with a signature.
 */
async function runs(tag: string, n: number, fromH: number, toH: number): Promise<void> {
  await db.sql`
    insert into codex_kb.ideas (source_type, source_ref, title, repository, payload)
    select 'api', ${tag} || ':' || g, 'scale', 'acme/r' || (g % 50), '{}' from generate_series(1, ${n / PER_IDEA}) g`;
  await db.sql`
    insert into codex_kb.tasks (idea_id, key, stage, title, repository)
    select id, 'impl', 'implementation', 'impl', repository from codex_kb.ideas where source_ref like ${tag + ':%'}`;
  await db.sql`
    insert into codex_kb.task_runs (task_id, idea_id, attempt, status, stage, repository, queued_at, submitted_at, started_at, completed_at, cost_usd, error_code, error_message)
    select t.id, t.idea_id, k, case when g % 7 = 0 then 'failed' else 'succeeded' end, 'implementation', t.repository,
           q, q + interval '1 second', q + make_interval(secs => g % 600), q + make_interval(secs => 600 + g % 3000), (g % 100) / 100.0,
           case when g % 7 = 0 then 'test_failure' end, case when g % 7 = 0 then 'tests failed [signature: FAIL <path> ' || (g % 13) || ']' end
      from (select id, idea_id, repository, row_number() over (order by id) as i from codex_kb.tasks where key = 'impl'
              and idea_id in (select id from codex_kb.ideas where source_ref like ${tag + ':%'})) t,
           generate_series(1, ${PER_IDEA}) k,
           lateral (select (t.i - 1) * ${PER_IDEA} + k as g) gg,
           lateral (select now() - make_interval(secs => ${fromH * 3600} + (gg.g::float8 / ${n}) * ${(toH - fromH) * 3600})) x(q)`;
  await db.sql`analyze`;
}

async function medianScrapeMs(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    renderPrometheus((await collectMetrics(db.sql, config, 86_400)).families);
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[3]!;
}

describe(`a scrape beside ${HISTORY} historical runs`, () => {
  it('stays fast: the windowed queries do not read the history', async () => {
    await runs('recent', RECENT, 0.01, 23);
    const alone = await medianScrapeMs();
    await runs('history', HISTORY, 25, 24 * 365);
    const [{ n }] = (await db.sql`select count(*)::int as n from codex_kb.task_runs`) as unknown as [{ n: number }];
    expect(n).toBe(RECENT + HISTORY);
    const beside = await medianScrapeMs();
    console.log(`metrics scrape, ${RECENT} runs in the window: ${alone.toFixed(1)} ms alone, ${beside.toFixed(1)} ms beside ${HISTORY} historical runs (×${(beside / alone).toFixed(2)})`);
    const snapshot = await collectMetrics(db.sql, config, 86_400);
    const outcomes = snapshot.families.find((f) => f.name === 'facteur_run_outcomes')!;
    expect(outcomes.samples.reduce((a, s) => a + ('value' in s ? s.value : 0), 0)).toBe(RECENT);
    expect(beside).toBeLessThan(500);
    expect(beside / alone).toBeLessThan(4);
  }, 300_000);
});
