// Re-embedding on real PostgreSQL: a real CLI process SIGKILLed mid-way and a second run
// that finishes without redoing or missing a reflection; retrieval keeps answering from the
// active version while a re-embed runs; reflections written behind the cursor are caught up;
// the version's HNSW index is built and the version left ready, not active (the promotion's).
import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log/index.js';
import { createLocalEmbedder } from '../../shared/kb/embed/local.js';
import { runReembed, type ReembedProgress } from '../../shared/kb/reembed.js';
import { hnswIndexName, nearest } from '../../shared/kb/search.js';
import { activeVersion, ensureVersion } from '../../shared/kb/versions.js';
import { createTestDb, extraPool, type TestDb } from '../helpers/db.js';
import { seedReflections } from './seed.js';

const base = createLocalEmbedder();
const N = 1500;

function cli(db: TestDb, args: string[]): { lines: string[]; wait: Promise<number | null>; kill(): void; onLine(fn: (l: string) => void): void } {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bin/facteur-kb.ts', ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.url }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners: ((l: string) => void)[] = [];
  let buf = '';
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const fn of listeners) fn(line);
    }
  });
  proc.stderr.on('data', (d: Buffer) => lines.push(`stderr: ${d.toString('utf8')}`));
  return { lines, wait: new Promise((r) => proc.on('exit', (code) => r(code))), kill: () => proc.kill('SIGKILL'), onLine: (fn) => listeners.push(fn) };
}

const doneOf = (line: string) => Number(/ (\d+)\/\d+/.exec(line)?.[1] ?? NaN);

describe('re-embed', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
    await ensureVersion(db.sql, base);
    await seedReflections(db.sql, base, N);
  });

  it('resumes after a SIGKILL of the CLI without redoing or missing any reflection', { timeout: 120_000 }, async () => {
    const first = cli(db, ['reembed', '--to', 'local-hash-256-v1', '--batch', '10', '--no-promote']);
    first.onLine((l) => {
      if (l.startsWith('reembed: embedding') && doneOf(l) >= 50) first.kill();
    });
    const code = await first.wait;
    expect(code, first.lines.join('\n')).toBeNull(); // killed, not exited
    const [job] = await db.sql<{ state: string; done: number; total: number; last: string }[]>`
      select state, done, total, last_reflection_id::text as last from codex_kb.kb_reembed_jobs where to_version = 'local-hash-256-v1'`;
    expect(job!.state).toBe('running');
    expect(job!.done).toBeGreaterThanOrEqual(50);
    expect(job!.done).toBeLessThan(N);
    // what committed is exactly the batches up to the cursor: vectors and cursor in one transaction
    const [committed] = await db.sql<{ n: number; upTo: number }[]>`
      select count(*)::int as n, count(*) filter (where reflection_id <= ${job!.last}::uuid)::int as "upTo"
        from codex_kb.reflection_embeddings where version = 'local-hash-256-v1'`;
    expect(committed!.n).toBe(job!.done);
    expect(committed!.upTo).toBe(job!.done);

    const second = cli(db, ['reembed', '--to', 'local-hash-256-v1', '--batch', '10', '--no-promote']);
    expect(await second.wait, second.lines.join('\n')).toBe(0);
    const progress = second.lines.filter((l) => l.startsWith('reembed: embedding'));
    // it started where the first stopped: its first batch is the cursor's next ten
    expect(doneOf(progress[0]!)).toBe(job!.done + 10);
    expect(progress).toHaveLength(Math.ceil((N - job!.done) / 10));
    const [after] = await db.sql<{ state: string; done: number; total: number }[]>`select state, done, total from codex_kb.kb_reembed_jobs where to_version = 'local-hash-256-v1'`;
    expect(after).toEqual({ state: 'done', done: N, total: N });
    const [counts] = await db.sql<{ missing: number; dup: number }[]>`
      select (select count(*)::int from codex_kb.reflections r where not exists
                (select 1 from codex_kb.reflection_embeddings e where e.reflection_id = r.id and e.version = 'local-hash-256-v1')) as missing,
             (select count(*)::int - count(distinct reflection_id)::int from codex_kb.reflection_embeddings where version = 'local-hash-256-v1') as dup`;
    expect(counts).toEqual({ missing: 0, dup: 0 });
    const [v] = await db.sql<{ state: string; active: boolean }[]>`select state, active from codex_kb.embedding_versions where version = 'local-hash-256-v1'`;
    expect(v).toEqual({ state: 'ready', active: false });
    const [idx] = await db.sql`select 1 from pg_indexes where schemaname = 'codex_kb' and indexname = ${hnswIndexName('local-hash-256-v1')}`;
    expect(idx).toBeDefined();
    expect((await activeVersion(db.sql))?.version).toBe(base.version);
  });

  it('keeps retrieval on the active version while it runs, and catches up reflections written behind the cursor', { timeout: 60_000 }, async () => {
    const target = createLocalEmbedder(128);
    const reader = extraPool(db, 2);
    const query = (await base.embed(['the module m7 needs a timeout']))[0]!;
    const answers: { phase: string; found: number; active: string | undefined; jobState: string }[] = [];
    let planted = false;
    await runReembed({ sql: db.sql, log: silentLogger, embedder: target, batch: 100 }, (p: ReembedProgress) => {
      // the callback is synchronous; the reads below run while the next batch is embedded
      void (async () => {
        if (p.phase === 'embedding' && !planted) {
          planted = true;
          // an id below any cursor: only the catch-up can find it
          await reader`insert into codex_kb.reflections (id, reflection_type, content, repository) values ('00000000-0000-4000-8000-000000000001', 'lesson', 'written mid-run', 'acme/shop')`;
        }
        const active = await activeVersion(reader);
        const found = await reader.begin((tx) => nearest(tx, { version: active!.version, dimensions: active!.dimensions, vector: query, repository: 'acme/shop', k: 5 }));
        const [job] = await reader<{ state: string }[]>`select state from codex_kb.kb_reembed_jobs where to_version = ${target.version}`;
        answers.push({ phase: p.phase, found: found.length, active: active?.version, jobState: job!.state });
      })();
    });
    await new Promise((r) => setTimeout(r, 500));
    const during = answers.filter((a) => a.jobState === 'running');
    expect(during.length).toBeGreaterThan(3);
    for (const a of during) expect(a).toMatchObject({ found: 5, active: base.version });
    const [caught] = await db.sql`select 1 from codex_kb.reflection_embeddings where reflection_id = '00000000-0000-4000-8000-000000000001' and version = ${target.version}`;
    expect(caught).toBeDefined();
  });

  it('lets one of two processes on the same target advance the cursor; the other stops, nothing counted twice', { timeout: 60_000 }, async () => {
    const target = createLocalEmbedder(64);
    const pools = [extraPool(db, 2), extraPool(db, 2)];
    const outcomes = await Promise.allSettled(pools.map((sql) => runReembed({ sql, log: silentLogger, embedder: target, batch: 50 })));
    const stopped = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason.code);
    expect(stopped.every((c) => c === 'reembed_running')).toBe(true);
    expect(outcomes.some((o) => o.status === 'fulfilled')).toBe(true);
    const [job] = await db.sql<{ state: string; done: number }[]>`select state, done from codex_kb.kb_reembed_jobs where to_version = ${target.version}`;
    const [count] = await db.sql<{ n: number }[]>`select count(*)::int as n from codex_kb.reflections`;
    expect(job).toEqual({ state: 'done', done: count!.n });
  });
});
