// Retrieval into prompts against real PostgreSQL + pgvector: the HNSW index really used,
// versions kept apart, the repository filter, superseded and duplicate lessons out, hostile
// query text as plain words, the same bytes for the same inputs, the 4096-byte budget over
// what is actually stored, a dead or slow embedder degrading to full text, and one decision
// per run under two racing dispatch instances.
import postgres from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLocalEmbedder } from '../../shared/kb/embed/local.js';
import { embedLocal } from '../../shared/kb/embed/local.js';
import { vectorLiteral } from '../../shared/kb/embed/types.js';
import { searchLessons } from '../../shared/kb/candidates.js';
import { retrievedContextFor, type RunToRetrieveFor } from '../../shared/kb/retrieve.js';
import { hnswIndexName } from '../../shared/kb/search.js';
import { buildIndex, ensureVersion, HNSW_EF_CONSTRUCTION, HNSW_M } from '../../shared/kb/versions.js';
import { createTestDb, extraPool, type TestDb } from '../helpers/db.js';
import { deps, embedLesson, FAKE_deadEmbedder, FAKE_hangingEmbedder, seedLesson, seedRun } from './fixtures.js';

let db: TestDb;
const v1 = createLocalEmbedder();
const v2 = createLocalEmbedder(64);

beforeAll(async () => {
  db = await createTestDb();
  await ensureVersion(db.sql, v1);
});

const forRun = (run: Awaited<ReturnType<typeof seedRun>>, query: string, paths: string[] = []): RunToRetrieveFor =>
  ({ ...run, stage: 'implementation', query, paths });

describe('retrieval', () => {
  it('EXPLAIN: the vector ranking goes through the active version\'s HNSW index', async () => {
    const texts = Array.from({ length: 400 }, (_, i) => `lesson ${i} about module m${i % 97} and the parser p${i % 13}`);
    const ids = await db.sql<{ id: string }[]>`
      insert into codex_kb.reflections (reflection_type, content, repository, source)
      select 'lesson', t, 'bulk/repo', 'synthetic' from unnest(${texts}::text[]) t returning id::text as id`;
    await db.sql`
      insert into codex_kb.reflection_embeddings (reflection_id, version, embedding)
      select i, ${v1.version}, e::vector from unnest(${ids.map((r) => r.id)}::uuid[], ${texts.map((t) => vectorLiteral(embedLocal(t)))}::text[]) as x(i, e)`;
    await db.sql`analyze codex_kb.reflection_embeddings`;
    await db.sql`analyze codex_kb.reflections`;
    // the statement retrieval sends, captured off the wire, explained with its parameters
    const seen: { query: string; params: unknown[] }[] = [];
    const spy = postgres(db.url, { max: 1, debug: (_c, query, params) => void seen.push({ query, params: params as unknown[] }), onnotice: () => {} });
    try {
      const result = await searchLessons(deps(spy as never, v1), { query: 'the parser p3 in module m5', repository: 'bulk/repo' });
      expect(result.degraded).toBeNull();
      expect(result.candidates.some((c) => c.vectorRank !== null)).toBe(true);
      const knn = seen.find((s) => s.query.includes('<=>'))!;
      expect(knn).toBeDefined();
      // At a test's few hundred rows the planner rightly prefers to sort them all, so sorting
      // is priced out (enable_sort off is a penalty, not a ban): the order must then come from
      // an index, which only the version's HNSW index can give, and only if the statement's
      // expression, operator and predicate match it. The negative control — the same statement
      // ordered by L2 (`<->`), the upstream bug — still sorts, so the assertion would fail on
      // a statement the index cannot serve.
      const explain = (query: string) => spy.begin(async (tx) => {
        await tx.unsafe('set local enable_sort = off');
        await tx.unsafe('set local hnsw.iterative_scan = relaxed_order');
        const plan = await tx.unsafe(`explain ${query}`, knn.params as never[]);
        return plan.map((r) => r['QUERY PLAN']).join('\n');
      });
      const index = `Index Scan using reflection_embeddings_hnsw_${v1.version.replace(/[^a-z0-9]/g, '_')}`;
      expect(await explain(knn.query)).toContain(index);
      expect(await explain(knn.query.replaceAll('<=>', '<->'))).not.toContain(index);
    } finally {
      await spy.end();
    }
  });

  it('version isolation: vectors of v1 never answer a query under v2', async () => {
    await db.sql`insert into codex_kb.embedding_versions (version, provider, model, dimensions, state) values (${v2.version}, 'local', 'feature-hashing', 64, 'ready')`;
    await buildIndex(db.sql, v2);
    // built with the graph shape the bench measured (m 24, ef_construction 100), not pgvector's defaults
    const [opts] = await db.sql<{ reloptions: string[] }[]>`select reloptions from pg_class where relname = ${hnswIndexName(v2.version)}`;
    expect(opts!.reloptions).toEqual([`m=${HNSW_M}`, `ef_construction=${HNSW_EF_CONSTRUCTION}`]);
    const onlyV1 = await seedLesson(db.sql, { repository: 'iso/repo', content: 'the cache key must include the locale', embedder: v1 });
    const both = await seedLesson(db.sql, { repository: 'iso/repo', content: 'the cache is warmed on deploy', embedder: v1 });
    await embedLesson(db.sql, both, 'the cache is warmed on deploy', v2);
    // configured v2 while v1 is active: no vector ranking at all (another model's space)
    const mismatch = await searchLessons(deps(db.sql, v2), { query: 'cache key locale', repository: 'iso/repo' });
    expect(mismatch.degraded).toMatch(/^embedder_version_mismatch/);
    expect(mismatch.candidates.every((c) => c.vectorRank === null)).toBe(true);
    // v2 active: the vector ranking holds only lessons with a v2 vector
    await db.sql.begin(async (tx) => {
      await tx`update codex_kb.embedding_versions set active = false where active`;
      await tx`update codex_kb.embedding_versions set active = true where version = ${v2.version}`;
    });
    try {
      const r = await searchLessons(deps(db.sql, v2), { query: 'the cache key must include the locale', repository: 'iso/repo' });
      expect(r.version).toBe(v2.version);
      expect(r.candidates.find((c) => c.id === both)?.vectorRank).toBe(1);
      expect(r.candidates.find((c) => c.id === onlyV1)?.vectorRank ?? null).toBeNull();
    } finally {
      await db.sql.begin(async (tx) => {
        await tx`update codex_kb.embedding_versions set active = false where active`;
        await tx`update codex_kb.embedding_versions set active = true where version = ${v1.version}`;
      });
    }
  });

  it('only the run\'s repository; superseded lessons and duplicates left out; lessons on the task\'s paths first', async () => {
    const repo = 'filter/repo';
    const mine = await seedLesson(db.sql, { repository: repo, content: 'login form: the session cookie needs SameSite=Lax', embedder: v1 });
    const other = await seedLesson(db.sql, { repository: 'filter/other', content: 'login form: the session cookie needs SameSite=Lax!', embedder: v1 });
    const old = await seedLesson(db.sql, { repository: repo, content: 'login form: the session cookie is set by the proxy', embedder: v1 });
    await db.sql`update codex_kb.reflections set superseded_by = ${mine}, superseded_at = now() where id = ${old}`;
    const copy = await seedLesson(db.sql, { repository: repo, content: 'Login form:  the session cookie needs SameSite=Lax', embedder: v1 });
    const onPaths = await seedLesson(db.sql, { repository: repo, content: 'the login handler in src/auth must log failures', paths: ['src/auth/login.ts'], embedder: v1 });
    const run = await seedRun(db.sql, { repository: repo });
    const context = await retrievedContextFor(deps(db.sql, v1), forRun(run, 'login form session cookie', ['src/auth/']));
    const [decision] = await db.sql<{ injected: string[]; candidates: any[] }[]>`select injected::text[] as injected, candidates from codex_kb.kb_retrievals where run_id = ${run.runId}`;
    expect(decision!.injected[0]).toBe(onPaths);
    expect(decision!.injected.filter((id) => id === mine || id === copy)).toHaveLength(1);
    expect(decision!.injected).not.toContain(other);
    expect(decision!.injected).not.toContain(old);
    expect(decision!.candidates.map((c) => c.id)).not.toContain(old);
    // one of the two near-identical lessons is in, the other marked as its duplicate
    const pair = decision!.candidates.filter((c) => c.id === copy || c.id === mine).map((c) => c.reason).sort();
    expect(pair).toEqual(['duplicate', 'injected']);
    expect(context.match(/SameSite=Lax/g)).toHaveLength(1);
    expect(context).not.toContain('proxy');
  });

  it('SQL and {{ in the query are plain words: nothing spliced, nothing fails', async () => {
    const repo = 'hostile/repo';
    const lesson = await seedLesson(db.sql, { repository: repo, content: "the query builder escapes {{ name }} and '; drop table x; --", embedder: v1 });
    for (const q of ["'; drop table codex_kb.reflections; --", '{{ name }} {{#each}}', "a' or '1'='1", 'x:* & !y | (z', '$1 $$ \\ %s %n', 'or or or', '']) {
      const r = await searchLessons(deps(db.sql, v1), { query: q, repository: repo });
      expect(r.candidates.every((c) => c.id === lesson)).toBe(true);
    }
    const r = await searchLessons(deps(db.sql, null as never), { query: "drop table name builder '; --", repository: repo });
    expect(r.candidates.map((c) => c.id)).toEqual([lesson]);
    expect(r.candidates[0]!.textRank).toBe(1);
    expect((await db.sql`select count(*)::int as n from codex_kb.reflections`)[0]!.n).toBeGreaterThan(0);
  });

  it('the same inputs give the same bytes; never over 4096 bytes whatever is stored', async () => {
    const repo = 'budget/repo';
    await seedLesson(db.sql, { repository: repo, content: `ÿ€😀 budget lesson `.repeat(300_000), embedder: v1 }); // ~7 MB, multi-byte
    for (let i = 0; i < 30; i++) await seedLesson(db.sql, { repository: repo, content: `budget lesson ${i}: ${'日本語のテキスト '.repeat(20 + i * 7)}`, embedder: v1 });
    const contexts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await seedRun(db.sql, { repository: repo });
      contexts.push(await retrievedContextFor(deps(db.sql, v1, { topN: 50 }), forRun(run, 'budget lesson text')));
    }
    expect(new Set(contexts).size).toBe(1);
    expect(Buffer.byteLength(contexts[0]!)).toBeLessThanOrEqual(4096);
    expect(Buffer.byteLength(contexts[0]!)).toBeGreaterThan(500);
    expect(contexts[0]).not.toContain('\ufffd');
    const rows = await db.sql<{ context_bytes: number; context: string }[]>`
      select context_bytes, context from codex_kb.kb_retrievals where query = 'budget lesson text'`;
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(Buffer.byteLength(row.context)).toBe(row.context_bytes);
  });

  it('a dead embedder: full text only, degraded recorded, lessons still given', async () => {
    const repo = 'dead/repo';
    const lesson = await seedLesson(db.sql, { repository: repo, content: 'migrations must be forward only', embedder: v1 });
    for (const [embedder, reason] of [[FAKE_deadEmbedder(v1), /^embedder_error: connect ECONNREFUSED/], [FAKE_hangingEmbedder(v1), /^embedder_timeout/]] as const) {
      const run = await seedRun(db.sql, { repository: repo });
      const started = Date.now();
      const context = await retrievedContextFor(deps(db.sql, embedder, { embedTimeoutMs: 200 }), forRun(run, 'forward only migrations'));
      expect(Date.now() - started).toBeLessThan(2000);
      expect(context).toContain('migrations must be forward only');
      const [d] = await db.sql<{ degraded: string; embedding_version: string | null; injected: string[] }[]>`
        select degraded, embedding_version, injected::text[] as injected from codex_kb.kb_retrievals where run_id = ${run.runId}`;
      expect(d!.degraded).toMatch(reason);
      expect(d!.embedding_version).toBeNull();
      expect(d!.injected).toEqual([lesson]);
      const [check] = await db.sql`select result from codex_kb.policy_checks where run_id = ${run.runId} and check_key = 'kb.retrieval'`;
      expect(check!.result).toBe('warn');
    }
  });

  it('FACTEUR_KB_RETRIEVE=off, or a stage given no lessons: an empty context and no decision', async () => {
    await seedLesson(db.sql, { repository: 'off/repo', content: 'a lesson nobody gets', embedder: v1 });
    const off = await seedRun(db.sql, { repository: 'off/repo' });
    expect(await retrievedContextFor(deps(db.sql, v1, { enabled: false }), forRun(off, 'a lesson'))).toBe('');
    const deploy = await seedRun(db.sql, { repository: 'off/repo', stage: 'deploy' });
    expect(await retrievedContextFor(deps(db.sql, v1), { ...forRun(deploy, 'a lesson'), stage: 'deploy' })).toBe('');
    expect((await db.sql`select count(*)::int as n from codex_kb.kb_retrievals where run_id in (${off.runId}, ${deploy.runId})`)[0]!.n).toBe(0);
  });

  it('a retrieval that fails is recorded as an empty, degraded decision, and a resubmission gets those same bytes', async () => {
    const repo = 'flaky/repo';
    await seedLesson(db.sql, { repository: repo, content: 'the flaky kb lesson: retry the upload', embedder: v1 });
    const run = await seedRun(db.sql, { repository: repo });
    // another session holds the lessons' table: the KB's queries hit their statement timeout, the database is up
    const holder = extraPool(db, 1);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holding = holder.begin(async (tx) => {
      await tx`lock table codex_kb.reflections in access exclusive mode`;
      locked();
      await held;
    });
    await isLocked;
    try {
      await expect(retrievedContextFor(deps(db.sql, v1, { queryTimeoutMs: 200 }), forRun(run, 'flaky upload retry'))).resolves.toBe('');
    } finally {
      release();
      await holding;
      await holder.end();
    }
    const [d] = await db.sql<{ degraded: string; context_bytes: number }[]>`select degraded, context_bytes from codex_kb.kb_retrievals where run_id = ${run.runId}`;
    expect(d).toMatchObject({ context_bytes: 0 });
    expect(d!.degraded).toMatch(/^kb_unavailable: /);
    // the KB is back: the resubmission's Workflow must still carry what the first one may have carried
    await expect(retrievedContextFor(deps(db.sql, v1), forRun(run, 'flaky upload retry'))).resolves.toBe('');
  });

  it('when not even a decision can be recorded (the database is away) it throws a RetryableError: nothing is built without one', async () => {
    const run = await seedRun(db.sql, { repository: 'gone/repo' });
    const closed = extraPool(db, 1);
    await closed.end();
    await expect(retrievedContextFor(deps(closed, v1), forRun(run, 'anything'))).rejects.toMatchObject({ code: 'kb_unrecorded' });
  });

  it('one decision per run under two racing dispatch instances: the same context, one event, one check', async () => {
    const repo = 'race/repo';
    for (let i = 0; i < 6; i++) await seedLesson(db.sql, { repository: repo, content: `race lesson ${i}: retry the flaky upload ${i} times`, embedder: v1 });
    const other = extraPool(db, 10);
    for (let round = 0; round < 8; round++) {
      const run = await seedRun(db.sql, { repository: repo });
      const [a, b] = await Promise.all([
        retrievedContextFor(deps(db.sql, v1), forRun(run, 'flaky upload retry')),
        retrievedContextFor(deps(other, v1), forRun(run, 'flaky upload retry')),
      ]);
      expect(a).toBe(b);
      expect(a).toContain('race lesson');
      const [n] = await db.sql<{ decisions: number; events: number; checks: number }[]>`
        select (select count(*)::int from codex_kb.kb_retrievals where run_id = ${run.runId}) as decisions,
               (select count(*)::int from codex_kb.run_events where run_id = ${run.runId} and event_type = 'kb.retrieval') as events,
               (select count(*)::int from codex_kb.policy_checks where run_id = ${run.runId} and check_key = 'kb.retrieval') as checks`;
      expect(n).toEqual({ decisions: 1, events: 1, checks: 1 });
      // a resubmission later reads the decision back: the same bytes
      expect(await retrievedContextFor(deps(other, v1), forRun(run, 'another query entirely'))).toBe(a);
    }
  });
});
