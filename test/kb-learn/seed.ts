// Rows the learning loop reads, written directly (the lifecycle that normally writes them is
// tested elsewhere): ideas, tasks, finished runs and their artifacts, reflections with vectors.
import type { Sql } from '../../shared/db/index.js';
import type { Embedder } from '../../shared/kb/embed/types.js';
import { vectorLiteral } from '../../shared/kb/embed/types.js';

export async function seedIdea(sql: Sql, title = 'Add a retry budget'): Promise<string> {
  const [idea] = await sql<{ id: string }[]>`
    insert into codex_kb.ideas (source_type, source_ref, title, repository, status, payload, intent_anchor)
    values ('api', ${'ref-' + Math.random().toString(36).slice(2)}, ${title}, 'acme/shop', 'running_tasks', '{}', 'INTENT: retries never exceed the budget')
    returning id`;
  return idea!.id;
}

export async function seedTask(sql: Sql, ideaId: string, key: string, stage = 'implementation'): Promise<string> {
  const [t] = await sql<{ id: string }[]>`
    insert into codex_kb.tasks (idea_id, key, stage, title, description, repository, state)
    values (${ideaId}, ${key}, ${stage}, ${'Task ' + key}, 'make the client retry with a budget', 'acme/shop', 'running') returning id`;
  return t!.id;
}

let clock = Date.parse('2026-11-01T00:00:00Z');

/** A finished run, each one completing a minute after the previous one seeded. */
export async function seedRun(sql: Sql, ideaId: string, taskId: string, attempt: number, status: 'succeeded' | 'failed', o: { stage?: string; error?: [string, string]; artifacts?: Record<string, unknown> } = {}): Promise<string> {
  clock += 60_000;
  const [r] = await sql<{ id: string }[]>`
    insert into codex_kb.task_runs (task_id, idea_id, attempt, status, stage, repository, queued_at, started_at, completed_at, error_code, error_message)
    values (${taskId}, ${ideaId}, ${attempt}, ${status}, ${o.stage ?? 'implementation'}, 'acme/shop', ${new Date(clock - 50_000)}, ${new Date(clock - 40_000)}, ${new Date(clock)},
            ${o.error?.[0] ?? null}, ${o.error?.[1] ?? null})
    returning id`;
  for (const [kind, data] of Object.entries(o.artifacts ?? {})) {
    await sql`insert into codex_kb.artifacts (idea_id, task_id, run_id, artifact_type, data) values (${ideaId}, ${taskId}, ${r!.id}, ${kind}, ${sql.json(data as never)})`;
  }
  return r!.id;
}

/** `n` reflections in `repository`, embedded under the embedder's (registered) version. */
export async function seedReflections(sql: Sql, embedder: Embedder, n: number, repository = 'acme/shop'): Promise<string[]> {
  const rows = Array.from({ length: n }, (_, i) => ({ content: `lesson ${i}: the module m${i % 37} needs ${['a timeout', 'a migration', 'a lock', 'a clock'][i % 4]} (case ${i})` }));
  const ids = await sql<{ id: string; content: string }[]>`
    insert into codex_kb.reflections (reflection_type, content, repository, source)
    select 'lesson', r.content, ${repository}, 'facteur' from jsonb_to_recordset(${sql.json(rows as never)}) as r(content text)
    returning id, content`;
  const vectors = await embedder.embed(ids.map((r) => r.content));
  const items = ids.map((r, i) => ({ id: r.id, v: vectorLiteral(vectors[i]!) }));
  await sql`
    insert into codex_kb.reflection_embeddings (reflection_id, version, embedding)
    select r.id, ${embedder.version}, r.v::vector from jsonb_to_recordset(${sql.json(items as never)}) as r(id uuid, v text)`;
  return ids.map((r) => r.id);
}
