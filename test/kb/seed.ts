// Ideas, tasks and runs written straight into the tables, and runs ended the way the
// lifecycle ends them (an UPDATE of status: the trigger fills codex_kb.kb_backlog).
import type { Sql } from '../../shared/db/index.js';
import { loadConfig, type Config } from '../../shared/config/index.js';
import { createLocalEmbedder } from '../../shared/kb/embed/index.js';
import type { Embedder } from '../../shared/kb/embed/types.js';
import type { KbDeps } from '../../shared/kb/deps.js';
import { silentLogger } from '../../shared/log/index.js';

let n = 0;

export async function seedTask(sql: Sql, opts: { repository?: string; stage?: string; title?: string; key?: string } = {}): Promise<{ ideaId: string; taskId: string; repository: string }> {
  const repository = opts.repository ?? 'acme/widgets';
  const [idea] = await sql<{ id: string }[]>`
    insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status)
    values ('api', ${`kb-seed:${process.pid}:${n++}:${Math.random()}`}, 'Seeded idea', ${repository}, '{}', 'running_tasks') returning id`;
  const stage = opts.stage ?? 'implementation';
  const [task] = await sql<{ id: string }[]>`
    insert into codex_kb.tasks (idea_id, key, stage, title, repository, state)
    values (${idea!.id}, ${opts.key ?? `${stage}-${n++}`}, ${stage}, ${opts.title ?? 'Make the parser strict'}, ${repository}, 'running') returning id`;
  return { ideaId: idea!.id, taskId: task!.id, repository };
}

export interface RunOpts {
  readonly outcome: 'succeeded' | 'failed' | 'cancelled';
  readonly attempt?: number;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly paths?: readonly string[];
  /** Artifacts written before the run ends: type → data. */
  readonly artifacts?: readonly { type: string; data: unknown }[];
  /** Seconds after the epoch-ish base when the run ended (orders supersession). */
  readonly endedAt?: Date;
}

/** A run of the task, running, its artifacts reported, then ended (which enqueues it). */
export async function endedRun(sql: Sql, t: { ideaId: string; taskId: string; repository: string }, o: RunOpts): Promise<string> {
  const [stage] = await sql<{ stage: string }[]>`select stage from codex_kb.tasks where id = ${t.taskId}`;
  const [run] = await sql<{ id: string }[]>`
    insert into codex_kb.task_runs (task_id, idea_id, attempt, status, stage, repository, started_at)
    values (${t.taskId}, ${t.ideaId}, ${o.attempt ?? (n++ + 1)}, 'running', ${stage!.stage}, ${t.repository}, now()) returning id`;
  const id = run!.id;
  const artifacts = [...(o.artifacts ?? [])];
  if (o.paths) {
    artifacts.push({ type: 'diff-stats', data: { base: 'a'.repeat(40), head: 'b'.repeat(40), added: 1, removed: 0, files: o.paths.map((p) => ({ path: p, added: 1, removed: 0, status: 'modified' })) } });
  }
  for (const a of artifacts) {
    await sql`insert into codex_kb.artifacts (idea_id, task_id, run_id, artifact_type, data) values (${t.ideaId}, ${t.taskId}, ${id}, ${a.type}, ${sql.json(a.data as never)})`;
  }
  await sql`
    update codex_kb.task_runs set status = ${o.outcome}, completed_at = ${o.endedAt ?? new Date()},
           error_code = ${o.errorCode ?? null}, error_message = ${o.errorMessage ?? null}
     where id = ${id}`;
  return id;
}

export function kbDeps(sql: Sql, env: Record<string, string> = {}, embedder: Embedder = createLocalEmbedder()): KbDeps & { config: Config } {
  return { sql, log: silentLogger, config: loadConfig({ FACTEUR_KB_RETRY_BASE_MS: '0', ...env }), embedder };
}
