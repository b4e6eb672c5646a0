// Re-embedding (issue 10, item 6; seed 000 step 08): every reflection embedded again under a
// new version, beside the active version's vectors, which keep serving retrieval until the
// new version is promoted (./promote.ts) — the switch is the promotion's, never this job's.
//
// Resumable: reflections are taken in keyset order (by id), and each batch's vectors and the
// job's cursor (kb_reembed_jobs.last_reflection_id) commit in ONE transaction, so a process
// killed at any point resumes after the last committed batch: nothing redone, nothing missed.
// The cursor update is guarded by the cursor the batch started from, so two processes on the
// same target cannot both advance it (the second one's batch rolls back and it stops).
// Reflections written meanwhile behind the cursor (ids are random) are caught up at the end,
// then the version's HNSW index is built (`concurrently` on a real server: ./versions.ts).
import type { Sql } from '../db/index.js';
import { ConflictError, RetryableError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { createLocalEmbedder } from './embed/local.js';
import type { Embedder } from './embed/types.js';
import { vectorLiteral } from './embed/types.js';
import { activeVersion, buildIndex } from './versions.js';

export interface ReembedJob {
  readonly toVersion: string;
  readonly fromVersion: string | null;
  readonly state: 'running' | 'indexing' | 'done' | 'failed';
  readonly total: number;
  readonly done: number;
  readonly lastReflectionId: string | null;
  readonly error: string | null;
}

export interface ReembedProgress {
  readonly done: number;
  readonly total: number;
  /** Reflections embedded by this batch. */
  readonly batch: number;
  readonly phase: 'embedding' | 'catch-up' | 'indexing' | 'done';
}

export interface ReembedDeps {
  readonly sql: Sql;
  readonly log: Logger;
  /** The embedder of the target version. */
  readonly embedder: Embedder;
  readonly batch: number;
}

/** The embedder that makes `version`: the configured one, or the embedded default at any dimension. */
export function embedderResolver(configured?: Embedder): (version: string) => Embedder | undefined {
  return (version) => {
    if (configured?.version === version) return configured;
    const local = /^local-hash-(\d{1,4})-v1$/.exec(version);
    const dims = local ? Number(local[1]) : 0;
    return dims >= 1 && dims <= 4000 ? createLocalEmbedder(dims) : undefined;
  };
}

type JobRow = { to_version: string; from_version: string | null; state: ReembedJob['state']; total: number; done: number; last_reflection_id: string | null; error: string | null };
const toJob = (r: JobRow): ReembedJob => ({
  toVersion: r.to_version, fromVersion: r.from_version, state: r.state, total: r.total, done: r.done, lastReflectionId: r.last_reflection_id, error: r.error,
});

export async function getReembedJob(sql: Sql, version: string): Promise<ReembedJob | undefined> {
  const [row] = await sql<JobRow[]>`select * from codex_kb.kb_reembed_jobs where to_version = ${version}`;
  return row ? toJob(row) : undefined;
}

/** Registers the target version (`building`) and its job, or finds the job to resume. */
export async function startReembed(sql: Sql, embedder: Embedder): Promise<ReembedJob> {
  const v = embedder;
  await sql`
    insert into codex_kb.embedding_versions (version, provider, model, dimensions)
    values (${v.version}, ${v.provider}, ${v.model}, ${v.dimensions}) on conflict (version) do nothing`;
  const [reg] = await sql<{ provider: string; model: string; dimensions: number; active: boolean }[]>`
    select provider, model, dimensions, active from codex_kb.embedding_versions where version = ${v.version}`;
  if (reg && (reg.dimensions !== v.dimensions || reg.model !== v.model || reg.provider !== v.provider)) {
    throw new ConflictError('version_mismatch', `embedding version ${v.version} is registered as ${reg.provider}/${reg.model} with ${reg.dimensions} dimensions, not ${v.provider}/${v.model} with ${v.dimensions}`);
  }
  if (reg?.active) throw new ConflictError('already_active', `embedding version ${v.version} is already the active one`);
  const from = await activeVersion(sql);
  const [row] = await sql<JobRow[]>`
    insert into codex_kb.kb_reembed_jobs (to_version, from_version, total)
    values (${v.version}, ${from?.version ?? null}, (select count(*)::int from codex_kb.reflections))
    on conflict (to_version) do update set state = 'running', error = null, updated_at = now()
      where kb_reembed_jobs.state = 'failed'
    returning *`;
  return row ? toJob(row) : (await getReembedJob(sql, v.version))!;
}

const ATTEMPTS = 4;

/** The embedder's answer, asked again (with backoff) while it says a later try may work. */
async function embedWithRetry(embedder: Embedder, texts: string[]): Promise<number[][]> {
  for (let attempt = 1; ; attempt++) {
    try {
      const vectors = await embedder.embed(texts);
      if (vectors.length !== texts.length || vectors.some((x) => x.length !== embedder.dimensions)) {
        throw new Error(`the embedder answered ${vectors.length} vectors for ${texts.length} texts, or a wrong dimension (want ${embedder.dimensions})`);
      }
      return vectors;
    } catch (err) {
      if (!(err instanceof RetryableError) || attempt >= ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt)));
    }
  }
}

/** Embeds one batch and advances the job in one transaction; throws ConflictError when another process moved the cursor. */
async function commitBatch(sql: Sql, version: string, rows: { id: string }[], vectors: number[][], cursor: { from: string | null; to: string | null }): Promise<{ done: number; total: number }> {
  return sql.begin(async (tx) => {
    const items = rows.map((r, i) => ({ id: r.id, v: vectorLiteral(vectors[i]!) }));
    await tx`
      insert into codex_kb.reflection_embeddings (reflection_id, version, embedding)
      select r.id, ${version}, r.v::vector from jsonb_to_recordset(${tx.json(items as never)}) as r(id uuid, v text)
        join codex_kb.reflections x on x.id = r.id
      on conflict (reflection_id, version) do nothing`;
    const [job] = await tx<{ done: number; total: number }[]>`
      update codex_kb.kb_reembed_jobs
         set done = done + ${rows.length}, total = greatest(total, done + ${rows.length}),
             last_reflection_id = coalesce(${cursor.to}::uuid, last_reflection_id), updated_at = now()
       where to_version = ${version} and state = 'running' and last_reflection_id is not distinct from ${cursor.from}::uuid
      returning done, total`;
    if (!job) throw new ConflictError('reembed_running', `another process is re-embedding into ${version}; this one stops`);
    return job;
  });
}

/**
 * Runs (or resumes) the re-embed into the embedder's version: batches, catch-up, index.
 * Ends with the version `ready` and the job `done`; the promotion is the caller's next step.
 */
export async function runReembed(deps: ReembedDeps, onProgress: (p: ReembedProgress) => void = () => {}): Promise<ReembedJob> {
  const { sql, embedder } = deps;
  const version = embedder.version;
  let job = await startReembed(sql, embedder);
  if (job.state === 'done') return job;
  try {
    let cursor = job.lastReflectionId;
    if (job.state === 'running') {
      for (;;) {
        const rows = await sql<{ id: string; content: string }[]>`
          select id, content from codex_kb.reflections where (${cursor}::uuid is null or id > ${cursor}::uuid) order by id limit ${deps.batch}`;
        if (rows.length === 0) break;
        const vectors = await embedWithRetry(embedder, rows.map((r) => r.content));
        const next = rows[rows.length - 1]!.id;
        const p = await commitBatch(sql, version, rows, vectors, { from: cursor, to: next });
        cursor = next;
        onProgress({ ...p, batch: rows.length, phase: 'embedding' });
      }
      // reflections written behind the cursor while it ran
      for (;;) {
        const rows = await sql<{ id: string; content: string }[]>`
          select r.id, r.content from codex_kb.reflections r
           where not exists (select 1 from codex_kb.reflection_embeddings e where e.reflection_id = r.id and e.version = ${version})
           order by r.id limit ${deps.batch}`;
        if (rows.length === 0) break;
        const vectors = await embedWithRetry(embedder, rows.map((r) => r.content));
        const p = await commitBatch(sql, version, rows, vectors, { from: cursor, to: null });
        onProgress({ ...p, batch: rows.length, phase: 'catch-up' });
      }
      await sql`update codex_kb.kb_reembed_jobs set state = 'indexing', updated_at = now() where to_version = ${version} and state = 'running'`;
    }
    job = (await getReembedJob(sql, version))!;
    onProgress({ done: job.done, total: job.total, batch: 0, phase: 'indexing' });
    await buildIndex(sql, embedder);
    await sql.begin(async (tx) => {
      await tx`update codex_kb.kb_reembed_jobs set state = 'done', finished_at = now(), updated_at = now() where to_version = ${version} and state = 'indexing'`;
      await tx`update codex_kb.embedding_versions set state = 'ready' where version = ${version} and state = 'building'`;
    });
    job = (await getReembedJob(sql, version))!;
    onProgress({ done: job.done, total: job.total, batch: 0, phase: 'done' });
    deps.log.info('kb: re-embed done', { version, reflections: job.done });
    return job;
  } catch (err) {
    if (!(err instanceof ConflictError)) {
      await sql`update codex_kb.kb_reembed_jobs set state = 'failed', error = ${String((err as Error).message).slice(0, 1000)}, updated_at = now()
                 where to_version = ${version} and state in ('running', 'indexing')`.catch(() => undefined);
    }
    throw err;
  }
}
