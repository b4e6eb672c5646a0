// The limit observer: its own connection samples the active runs (submitting + running)
// per scope every few ms, one statement (one snapshot) per sample, and records every
// sample over a limit. A database outage pauses it.
import { connect, type Sql } from '../../shared/db/index.js';
import type { History, LimitSample } from './history.js';
import { sleep } from './net.js';

export class LimitObserver {
  private readonly sql: Sql;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(url: string, private readonly history: History, private readonly intervalMs: number) {
    this.sql = connect(url, { max: 1, connectTimeoutS: 2, applicationName: 'chaos-observer' });
  }

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        this.check(await this.sample());
      } catch {
        await sleep(100); // the database is being restarted
      }
      await sleep(this.intervalMs);
    }
  }

  async sample(): Promise<LimitSample> {
    const [row] = await this.sql<{ global: number; stages: Record<string, number> | null; repository: [string, number] | null; idea: [string, number] | null; workspace: [string, number] | null }[]>`
      with r as (
        select stage, repository, idea_id::text as idea, workspace from codex_kb.task_runs where status in ('submitting', 'running')
      )
      select (select count(*)::int from r) as global,
             (select json_object_agg(stage, n) from (select stage, count(*)::int as n from r group by stage) s) as stages,
             (select json_build_array(repository, count(*)::int) from r group by repository order by count(*) desc limit 1) as repository,
             (select json_build_array(idea, count(*)::int) from r group by idea order by count(*) desc limit 1) as idea,
             (select json_build_array(workspace, count(*)::int) from r where workspace is not null group by workspace order by count(*) desc limit 1) as workspace`;
    return { at: Date.now(), global: row!.global, stages: row!.stages ?? {}, repository: row!.repository, idea: row!.idea, workspace: row!.workspace };
  }

  private check(s: LimitSample): void {
    const h = this.history;
    const l = h.limits;
    h.limitSamples++;
    const see = (scope: string, count: number, limit: number | undefined, key: string) => {
      h.maxSeen[key] = Math.max(h.maxSeen[key] ?? 0, count);
      if (limit !== undefined && count > limit) h.limitViolations.push({ sample: s, scope, count, limit });
    };
    see('global', s.global, l.global, 'global');
    for (const [stage, n] of Object.entries(s.stages)) see(`stage ${stage}`, n, l.stages[stage], `stage:${stage}`);
    if (s.repository) see(`repository ${s.repository[0]}`, s.repository[1], l.repository, 'repository');
    if (s.idea) see(`idea ${s.idea[0]}`, s.idea[1], l.idea, 'idea');
    if (s.workspace) see(`workspace ${s.workspace[0]}`, s.workspace[1], 1, 'workspace');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.sql.end({ timeout: 2 });
  }
}
