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
  expect(detail.tasks[0]).toMatchObject({ key: 'planning', state: 'pending' });
  expect((await fetch(`${url}/nowhere`)).status).toBe(404);
}

describe('local mode', () => {
  it('starts on the embedded PostgreSQL, applies migrations, serves every function, keeps data across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-local-'));
    try {
      const started = Date.now();
      let local = await startLocal({ env: { PORT: '0', FACTEUR_DATA_DIR: dir }, log: silentLogger });
      expect(Date.now() - started).toBeLessThan(10_000);
      await exercise(local.url);
      await local.close();
      local = await startLocal({ env: { PORT: '0', FACTEUR_DATA_DIR: dir }, log: silentLogger });
      const list = (await (await fetch(`${local.url}/status/v1/ideas`)).json()) as any;
      expect(list.items).toHaveLength(1);
      await local.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('uses DATABASE_URL when it is set', async () => {
    const db = await createTestDb({ migrated: false });
    const local = await startLocal({ env: { PORT: '0', DATABASE_URL: db.url }, log: silentLogger });
    try {
      await exercise(local.url);
    } finally {
      await local.close();
    }
  });
});
