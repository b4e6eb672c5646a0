// In local mode, an idea's second run receives a lesson learned from its first: the example
// agent breaks a task's test on its first attempt (EXAMPLE_BREAK_TEST), the run fails with
// `test_failure`, the knowledge base's pass reflects on that run (source `facteur`) and embeds
// the reflection, and the retry's Workflow carries it in retrievedContext (read back as the
// run's decision, the bytes the Workflow got). Nothing is written by the test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocal } from '../../shared/local/index.js';
import { createLocalEmbedder } from '../../shared/kb/embed/local.js';
import { ensureVersion } from '../../shared/kb/versions.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb } from '../helpers/db.js';
import { ideaSpec, postEvent } from '../helpers/http.js';

const embedder = createLocalEmbedder();

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('local mode: the knowledge base', () => {
  it('an idea\'s second run receives a lesson learned from the first, in its retrievedContext', async () => {
    const db = await createTestDb();
    await ensureVersion(db.sql, embedder);
    const dir = mkdtempSync(join(tmpdir(), 'facteur-local-kb-'));
    // the retry waits 3 s: time for the reflection on the failed attempt to be written
    const env = { PORT: '0', DATABASE_URL: db.url, FACTEUR_DATA_DIR: dir, FACTEUR_MONITOR_WINDOW_S: '0', FACTEUR_RETRY_BASE_MS: '3000', EXAMPLE_BREAK_TEST: 'fix-login-core' };
    const local = await startLocal({ env, log: silentLogger, tickMs: 250 });
    try {
      const r = await postEvent(local.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'local-kb', title: 'Fix login', repository: 'local/sample' })), path: '/intake' });
      expect(r.status).toBe(202);
      const failed = await until('the first attempt to fail', 120_000, async () => {
        const [row] = await db.sql<{ id: string }[]>`
          select r.id from codex_kb.task_runs r join codex_kb.tasks t on t.id = r.task_id
           where r.idea_id = ${r.body.ideaId} and t.key = 'fix-login-core' and r.attempt = 1 and r.status = 'failed'`;
        return row?.id;
      });
      // the pass, nudged by the tick, reflects on the failed attempt and embeds it
      const lesson = await until('the reflection on the failed attempt, embedded', 30_000, async () => {
        const [row] = await db.sql<{ id: string }[]>`
          select r.id::text as id from codex_kb.reflections r join codex_kb.reflection_embeddings e on e.reflection_id = r.id
           where r.run_id = ${failed} and r.source = 'facteur' and e.version = ${embedder.version}`;
        return row?.id;
      });
      const retry = await until('the retry to be dispatched', 60_000, async () => {
        const [row] = await db.sql<{ id: string }[]>`
          select r.id from codex_kb.task_runs r join codex_kb.tasks t on t.id = r.task_id
           where r.idea_id = ${r.body.ideaId} and t.key = 'fix-login-core' and r.attempt = 2 and r.status in ('running', 'succeeded', 'failed')`;
        return row?.id;
      });
      const ctx = (await (await fetch(`${local.url}/status/v1/runs/${retry}/context`)).json()) as any;
      expect(ctx).toMatchObject({ runId: retry, stage: 'implementation', embeddingVersion: embedder.version, degraded: null });
      expect(ctx.injected[0]).toBe(lesson);
      expect(ctx.context).toContain('Run of implementation task fix-login-core');
      expect(ctx.context).toContain('test_failure');
      expect(ctx.context).toMatch(/1 failed/);
      expect(Buffer.byteLength(ctx.context)).toBeLessThanOrEqual(4096);
      // the first attempt had nothing to learn from yet (the idea's repository had no lessons)
      const first = (await (await fetch(`${local.url}/status/v1/runs/${failed}/context`)).json()) as any;
      expect(first.injected).not.toContain(lesson);
    } finally {
      await local.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 200_000);

  it('on the embedded PostgreSQL (PGlite) too: every run of a retrieval stage has its decision', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-local-kb-'));
    const local = await startLocal({ env: { PORT: '0', FACTEUR_DATA_DIR: dir, FACTEUR_MONITOR_WINDOW_S: '0' }, log: silentLogger, tickMs: 250 });
    try {
      const r = await postEvent(local.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'local-kb-pglite', repository: 'local/sample' })), path: '/intake' });
      const idea = await until('the idea to complete', 120_000, async () => {
        const d = (await (await fetch(`${local.url}/status/v1/ideas/${r.body.ideaId}`)).json()) as any;
        return d.idea.status === 'completed' ? d : undefined;
      });
      const stageOf = new Map(idea.tasks.map((t: { id: string; stage: string }) => [t.id, t.stage]));
      for (const run of idea.runs) {
        const answer = await fetch(`${local.url}/status/v1/runs/${run.id}/context`);
        const stage = stageOf.get(run.taskId) as string;
        expect(answer.status, stage).toBe(['planning', 'implementation', 'review'].includes(stage) ? 200 : 404);
        if (answer.status === 200) expect(((await answer.json()) as any).contextBytes, stage).toBeLessThanOrEqual(4096);
      }
      const search = await fetch(`${local.url}/status/v1/kb/search?q=${encodeURIComponent("{{x}}'; select 1; --")}&repository=local/sample`);
      expect(search.status).toBe(200);
    } finally {
      await local.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 200_000);
});
