// A history written straight into the tables (ideas, tasks, runs at chosen times, findings,
// approvals, regressions), so the metrics can be compared with what the database holds.
import type { Sql } from '../../shared/db/index.js';

export const STAGES = ['planning', 'implementation', 'review', 'integration', 'deploy'] as const;

export async function seedIdea(sql: Sql, repository: string, title = 'Seeded'): Promise<{ ideaId: string; tasks: Record<string, string> }> {
  const [idea] = await sql<{ id: string }[]>`
    insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status)
    values ('api', ${`seed:${Math.random().toString(36).slice(2)}`}, ${title}, ${repository}, '{}', 'running_tasks') returning id`;
  const tasks: Record<string, string> = {};
  for (const stage of STAGES) {
    const [t] = await sql<{ id: string }[]>`
      insert into codex_kb.tasks (idea_id, key, stage, title, repository, state)
      values (${idea!.id}, ${stage}, ${stage}, ${stage}, ${repository}, 'pending') returning id`;
    tasks[stage] = t!.id;
  }
  return { ideaId: idea!.id, tasks };
}

export interface RunSeed {
  readonly stage: (typeof STAGES)[number];
  readonly status: 'queued' | 'submitting' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  /** Hours before now the run was claimed. */
  readonly queuedHoursAgo: number;
  /** Seconds from claimed to started (null: never started). */
  readonly latencyS?: number | null;
  /** Seconds from started to finished. */
  readonly durationS?: number;
  readonly attempt?: number;
  readonly costUsd?: number;
  readonly tokens?: number;
  /** task_runs.repository (the idea's by default); the column has no check, so hostile names reach it. */
  readonly repository?: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
}

// unique (task_id, attempt): every seeded run its own attempt number; `attempt` above is retry_count + 1
let attempts = 1000;

export async function seedRun(sql: Sql, idea: { ideaId: string; tasks: Record<string, string> }, repository: string, r: RunSeed): Promise<string> {
  const latency = r.latencyS === undefined ? 30 : r.latencyS;
  const finished = ['succeeded', 'failed', 'cancelled'].includes(r.status);
  const [row] = await sql<{ id: string }[]>`
    insert into codex_kb.task_runs (task_id, idea_id, attempt, retry_count, status, stage, repository, queued_at, submitted_at, started_at,
                                    completed_at, cost_usd, usage, error_code, error_message)
    select ${idea.tasks[r.stage]!}, ${idea.ideaId}, ${attempts++}, ${(r.attempt ?? 1) - 1}, ${r.status}, ${r.stage},
           ${r.repository ?? repository}, q, case when ${r.status} <> 'queued' then q + interval '1 second' end,
           case when ${latency}::float8 is not null then q + make_interval(secs => ${latency}::float8) end,
           case when ${finished} then coalesce(q + make_interval(secs => ${latency}::float8), q) + make_interval(secs => ${r.durationS ?? 120}) end,
           ${r.costUsd ?? 0}, ${sql.json({ inputTokens: r.tokens ?? 0, outputTokens: 0 })}, ${r.errorCode ?? null}, ${r.errorMessage ?? null}
      from (select now() - make_interval(secs => ${r.queuedHoursAgo * 3600}) as q) x
    returning id`;
  return row!.id;
}
