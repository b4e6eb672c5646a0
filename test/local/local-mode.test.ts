// `npm start` in-process: the embedded PostgreSQL (PGlite) and a real server, every function mounted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log/index.js';
import { startLocal } from '../../shared/local/index.js';
import { createTestDb } from '../helpers/db.js';
import { ideaSpec, postEvent } from '../helpers/http.js';

async function exercise(url: string) {
  const body = JSON.stringify(ideaSpec({ id: 'local-1' }));
  const first = await postEvent(url, { topic: 'codex.intent', body, path: '/intake' });
  expect(first.status).toBe(202);
  const again = await postEvent(url, { topic: 'codex.intent', body, path: '/intake' });
  expect(again).toEqual({ status: 200, body: { ...first.body, duplicate: true } });
  const list = (await (await fetch(`${url}/status/v1/ideas`)).json()) as any;
  expect(list.items.map((i: { id: string }) => i.id)).toEqual([first.body.ideaId]);
  const detail = (await (await fetch(`${url}/status/v1/ideas/${first.body.ideaId}`)).json()) as any;
  expect(detail.tasks[0]).toMatchObject({ key: 'planning', stage: 'planning' });
  expect((await fetch(`${url}/nowhere`)).status).toBe(404);
  return first.body.ideaId as string;
}

/** Polls the status API until the idea reaches `status`; returns its detail. */
async function waitFor(url: string, ideaId: string, status: string, timeoutMs: number): Promise<any> {
  const until = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < until) {
    last = (await (await fetch(`${url}/status/v1/ideas/${ideaId}`)).json()) as any;
    if (last.idea.status === status) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`idea still ${last?.idea?.status} (${last?.idea?.statusReason}) after ${timeoutMs} ms`);
}

describe('local mode', () => {
  it('starts on the embedded PostgreSQL, applies migrations, serves every function, keeps data across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-local-'));
    try {
      const started = Date.now();
      let local = await startLocal({ env: { PORT: '0', FACTEUR_DATA_DIR: dir, FACTEUR_MONITOR_WINDOW_S: '1' }, log: silentLogger, tickMs: 250 });
      // ~3–6 s alone; the bound catches a regression, with room for a machine busy with the
      // other local-mode suites (their processes start PGlite too): 12 s was seen at load 12
      expect(Date.now() - started).toBeLessThan(20_000);
      const ideaId = await exercise(local.url);
      // the whole life, run by the local workflow runner and the example stages
      const done = await waitFor(local.url, ideaId, 'completed', 90_000);
      const byStage = (s: string) => done.tasks.filter((t: { stage: string }) => t.stage === s);
      expect(byStage('implementation')).toHaveLength(3);
      expect(byStage('implementation').every((t: { state: string }) => t.state === 'succeeded')).toBe(true);
      expect(byStage('implementation').filter((t: { dependsOn: unknown[] }) => t.dependsOn.length > 0)).toHaveLength(2);
      for (const s of ['planning', 'review', 'integration', 'deploy']) expect(byStage(s)).toHaveLength(1);
      expect(done.runs).toHaveLength(7);
      for (const r of done.runs) {
        expect(r).toMatchObject({ status: 'succeeded', attempt: 1, workflowName: expect.stringMatching(/^facteur-/) });
        expect(Date.parse(r.completedAt)).toBeGreaterThanOrEqual(Date.parse(r.startedAt));
        expect(Date.parse(r.startedAt)).toBeGreaterThanOrEqual(Date.parse(r.queuedAt));
      }
      await local.close();
      local = await startLocal({ env: { PORT: '0', FACTEUR_DATA_DIR: dir }, log: silentLogger });
      const list = (await (await fetch(`${local.url}/status/v1/ideas`)).json()) as any;
      expect(list.items).toHaveLength(1);
      await local.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);

  it('uses DATABASE_URL when it is set', async () => {
    const db = await createTestDb({ migrated: false });
    // the data dir still holds the lock and the runs' directories: never the repository's .facteur/
    const dir = mkdtempSync(join(tmpdir(), 'facteur-local-'));
    const local = await startLocal({ env: { PORT: '0', DATABASE_URL: db.url, FACTEUR_DATA_DIR: dir }, log: silentLogger });
    try {
      await exercise(local.url);
    } finally {
      await local.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
