// Local mode (`npm start`, in-process: PGlite, the local runner, the example stages) with the
// notifiers switched on against the FAKE: its own timer drives them, and the idea's one
// status comment follows the whole life to `completed` — which local mode reaches in its tick,
// after the monitoring window, without an outbox event (the moved-idea sweep renders it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log/index.js';
import { startLocal } from '../../shared/local/index.js';
import { ideaSpec, postEvent } from '../helpers/http.js';
import { notifyEnv, startFakeRemotes, type FakeRemotes } from './fake-remotes.js';

let remotes: FakeRemotes;
beforeAll(async () => {
  remotes = await startFakeRemotes();
});
afterAll(() => remotes?.close());

describe('local mode with the notifiers on', () => {
  it('keeps one status comment up to date across the whole life', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-notify-local-'));
    const local = await startLocal({ env: { PORT: '0', FACTEUR_DATA_DIR: dir, FACTEUR_MONITOR_WINDOW_S: '1', ...notifyEnv(remotes) }, log: silentLogger, tickMs: 250 });
    try {
      const body = JSON.stringify(ideaSpec({ id: 'notify-local-1', title: 'Local notifications', repository: 'local/sample', source: { type: 'github_issue', ref: 'local/sample#9' } }));
      const answer = await postEvent(local.url, { topic: 'codex.intent', body, path: '/intake' });
      expect(answer.status).toBe(202);
      const ideaId = answer.body.ideaId as string;
      const marker = `<!-- facteur:idea:${ideaId} -->`;
      const until = Date.now() + 120_000;
      const mine = () => [...remotes.comments.values()].filter((c) => c.body.startsWith(marker));
      while (Date.now() < until && !mine()[0]?.body.includes('✅ completed')) await new Promise((r) => setTimeout(r, 250));
      expect(mine()).toHaveLength(1);
      expect(mine()[0]!.issue).toBe('local/sample#9');
      expect(mine()[0]!.body).toContain('✅ completed');
      expect(mine()[0]!.edits).toBeGreaterThanOrEqual(3);
      expect(remotes.messages.filter((m) => m.content.includes('Local notifications')).map((m) => m.content.split('**')[1])).toEqual(['🗺️ Plan ready', '🚀 Deployed']);
    } finally {
      await local.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
