// Local mode with FACTEUR_INTAKE_TOKEN set: intake and dispatch demand the token, so the
// in-process relay of the outbox to dispatch must send it too (else dispatch answers 401 to
// every relayed event, forever).
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log/index.js';
import { startLocal } from '../../shared/local/index.js';
import { createTestDb } from '../helpers/db.js';
import { ideaSpec, postEvent } from '../helpers/http.js';

describe('local mode with FACTEUR_INTAKE_TOKEN', () => {
  it('an idea posted with the token reaches dispatch through the in-process relay', async () => {
    const db = await createTestDb({ migrated: false });
    const local = await startLocal({ env: { PORT: '0', DATABASE_URL: db.url, FACTEUR_INTAKE_TOKEN: 'local-intake-token' }, log: silentLogger, tickMs: 200 });
    try {
      const body = JSON.stringify(ideaSpec({ id: 'local-token-1' }));
      expect((await postEvent(local.url, { topic: 'codex.intent', body, path: '/intake' })).status).toBe(401);
      const posted = await postEvent(local.url, { topic: 'codex.intent', body, path: '/intake', headers: { authorization: 'Bearer local-intake-token' } });
      expect(posted.status).toBe(202);
      const [d] = await local.sql`select sender from codex_kb.deliveries where idea_id = ${posted.body.ideaId}`;
      expect(d!.sender).toEqual({ kind: 'token' });
      // the relay delivered the idea's event to dispatch: sent, with no error on record
      const until = Date.now() + 15_000;
      let sent: { sent_at: Date | null; last_error: string | null; attempts: number } | undefined;
      while (Date.now() < until) {
        [sent] = await local.sql<{ sent_at: Date | null; last_error: string | null; attempts: number }[]>`
          select sent_at, last_error, attempts from codex_kb.outbox
           where subject = ${posted.body.ideaId} and type = 'facteur.idea.registered'`;
        if (sent?.sent_at || sent?.last_error) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(sent).toMatchObject({ sent_at: expect.any(Date), last_error: null });
      // and dispatch acted on it: the planning task was submitted to the local runner
      const until2 = Date.now() + 15_000;
      let runs = 0;
      while (Date.now() < until2 && runs === 0) {
        const [row] = await local.sql<{ n: number }[]>`select count(*)::int as n from codex_kb.task_runs where idea_id = ${posted.body.ideaId}`;
        runs = row!.n;
        if (runs === 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(runs).toBeGreaterThan(0);
    } finally {
      await local.close();
    }
  }, 60_000);
});
