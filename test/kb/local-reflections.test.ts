// Local mode (`npm start` in-process: embedded PGlite with pgvector, the local runner and the
// example stages): an idea's whole life, and every run that ended has Facteur's reflection
// and its vector under the local default version within seconds — the pass runs after each
// tick, nothing else asks for it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocal } from '../../shared/local/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { ideaSpec, postEvent } from '../helpers/http.js';
import { until } from '../local/proc.js';

describe('local mode', () => {
  it("an idea's ended runs get their reflections and vectors within seconds", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-kb-local-'));
    const local = await startLocal({ env: { PORT: '0', FACTEUR_DATA_DIR: dir, FACTEUR_MONITOR_WINDOW_S: '1' }, log: silentLogger, tickMs: 250 });
    try {
      const posted = await postEvent(local.url, { topic: 'codex.intent', path: '/intake', body: JSON.stringify(ideaSpec({ id: 'kb-local-1', repository: 'local/sample' })) });
      expect(posted.status).toBe(202);
      const ideaId = posted.body.ideaId as string;
      await until('the idea to complete', async () => {
        const [row] = await local.sql<{ status: string }[]>`select status from codex_kb.ideas where id = ${ideaId}`;
        return row?.status === 'completed' ? true : undefined;
      }, 120_000);
      const ended = Date.now();
      const runs = await local.sql<{ id: string; stage: string }[]>`select id, stage from codex_kb.task_runs where idea_id = ${ideaId} and status in ('succeeded', 'failed', 'cancelled')`;
      expect(runs.length).toBeGreaterThanOrEqual(7);
      const reflected = await until('every ended run reflected and embedded', async () => {
        const rows = await local.sql<{ run_id: string; stage: string; outcome: string; paths: string[]; content: string; embedded: boolean }[]>`
          select r.run_id, r.stage, r.outcome, r.paths, r.content,
                 exists (select 1 from codex_kb.reflection_embeddings e where e.reflection_id = r.id and e.version = 'local-hash-384-v1') as embedded
            from codex_kb.reflections r where r.idea_id = ${ideaId} and r.source = 'facteur'`;
        return rows.length === runs.length && rows.every((r) => r.embedded) ? rows : undefined;
      }, 15_000);
      expect(Date.now() - ended).toBeLessThan(15_000);
      expect(new Set(reflected.map((r) => r.run_id))).toEqual(new Set(runs.map((r) => r.id)));
      const impl = reflected.filter((r) => r.stage === 'implementation');
      expect(impl.length).toBe(3);
      // the example implementation stage changes files in the sample repository: its lessons know where
      expect(impl.every((r) => r.paths.length > 0 && r.outcome === 'succeeded' && r.content.includes('Paths: '))).toBe(true);
      expect(reflected.find((r) => r.stage === 'review')!.content).toMatch(/Review: approved/);
      expect(await local.sql`select 1 from codex_kb.kb_backlog`).toHaveLength(0);
      const [active] = await local.sql<{ version: string }[]>`select version from codex_kb.embedding_versions where active`;
      expect(active!.version).toBe('local-hash-384-v1');
    } finally {
      await local.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
