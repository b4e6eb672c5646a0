// What retrieval reads, written the way the KB's other parts write it: ideas, tasks and runs
// as the control plane does, reflections as kb-store does (source `facteur`, one per ended
// run, or `synthetic` for cases with no run), and their vectors under an embedding version.
import type { Sql } from '../../shared/db/index.js';
import type { Embedder } from '../../shared/kb/embed/types.js';
import { vectorLiteral } from '../../shared/kb/embed/types.js';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { createHash } from 'node:crypto';

export const config = loadConfig({});

export async function seedRun(sql: Sql, o: { repository?: string; stage?: string; status?: string; title?: string } = {}) {
  const repository = o.repository ?? 'acme/web';
  const [idea] = await sql<{ id: string }[]>`
    insert into codex_kb.ideas (source_type, source_ref, title, repository, payload)
    values ('api', ${`ref-${Math.random().toString(36).slice(2)}`}, ${o.title ?? 'An idea'}, ${repository}, '{}') returning id`;
  const [task] = await sql<{ id: string }[]>`
    insert into codex_kb.tasks (idea_id, key, stage, title, repository)
    values (${idea!.id}, ${`task-${Math.random().toString(36).slice(2, 8)}`}, ${o.stage ?? 'implementation'}, ${o.title ?? 'A task'}, ${repository}) returning id`;
  const [run] = await sql<{ id: string }[]>`
    insert into codex_kb.task_runs (task_id, idea_id, attempt, status)
    values (${task!.id}, ${idea!.id}, 1, ${o.status ?? 'submitting'}) returning id`;
  return { ideaId: idea!.id, taskId: task!.id, runId: run!.id, repository };
}

export interface LessonInput {
  readonly repository?: string;
  readonly content: string;
  readonly paths?: readonly string[];
  readonly stage?: string;
  readonly outcome?: string;
  /** Vectors under this embedder's version (none when null). */
  readonly embedder?: Embedder | null;
  readonly source?: 'facteur' | 'synthetic';
  readonly runId?: string;
}

export async function seedLesson(sql: Sql, l: LessonInput): Promise<string> {
  const digest = createHash('sha256').update(l.content).digest('hex');
  const [row] = await sql<{ id: string }[]>`
    insert into codex_kb.reflections (reflection_type, content, repository, stage, outcome, paths, source, run_id, content_digest)
    values ('lesson', ${l.content}, ${l.repository ?? 'acme/web'}, ${l.stage ?? 'implementation'}, ${l.outcome ?? 'failed'},
            ${(l.paths ?? []) as string[]}, ${l.source ?? 'synthetic'}, ${l.runId ?? null}, ${digest})
    returning id::text as id`;
  if (l.embedder) await embedLesson(sql, row!.id, l.content, l.embedder);
  return row!.id;
}

export async function embedLesson(sql: Sql, id: string, content: string, embedder: Embedder): Promise<void> {
  const [v] = await embedder.embed([content]);
  await sql`insert into codex_kb.reflection_embeddings (reflection_id, version, embedding) values (${id}, ${embedder.version}, ${vectorLiteral(v!)}::vector)`;
}

export const deps = (sql: Sql, embedder?: Embedder, overrides: Partial<typeof config.kbRetrieve> = {}) => ({
  sql,
  log: silentLogger,
  config: { kbRetrieve: { ...config.kbRetrieve, ...overrides } },
  ...(embedder ? { embedder } : {}),
});

/** An embedder that never answers: a provider that hangs (FAKE, at the outermost boundary). */
export function FAKE_hangingEmbedder(like: Embedder): Embedder {
  return { ...like, embed: () => new Promise<number[][]>(() => {}) };
}

/** An embedder whose provider is down (FAKE, at the outermost boundary). */
export function FAKE_deadEmbedder(like: Embedder): Embedder {
  return { ...like, embed: async () => { throw new Error('connect ECONNREFUSED 127.0.0.1:9'); } };
}
