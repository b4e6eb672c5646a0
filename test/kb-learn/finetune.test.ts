// The daily fine-tune trigger on real PostgreSQL: four concurrent ticks on separate pools on
// the same day give one event; the next day one more; fewer than N new pairs none — and the
// event goes through the outbox with the dataset's location. Also dispatch's /kb/finetune
// route (the PingSource's) over real HTTP.
import { beforeAll, describe, expect, it } from 'vitest';
import { createDispatchHandler } from '../../functions/dispatch/index.js';
import { loadConfig } from '../../shared/config/index.js';
import type { Sql } from '../../shared/db/index.js';
import { FINETUNE_EVENT, requestFinetune } from '../../shared/kb/finetune.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, extraPool, type TestDb } from '../helpers/db.js';
import { serve } from '../helpers/http.js';
import { seedIdea, seedRun, seedTask } from './seed.js';

let db: TestDb;
let idea: string;
let task: string;
const config = loadConfig({ FACTEUR_KB_FINETUNE_MIN_PAIRS: '5', FACTEUR_KB_EXPORT_BASE_URL: 'https://facteur.example/api/' });
const DAY1 = new Date('2026-11-20T10:00:00Z');
const DAY2 = new Date('2026-11-21T00:00:05Z');

/** `n` pairs created at `at` (each pair needs two runs of its own). */
async function pairs(n: number, at: Date): Promise<void> {
  for (let i = 0; i < n; i++) {
    const a = await seedRun(db.sql, idea, task, 1000 + Math.floor(Math.random() * 1e6), 'failed');
    const b = await seedRun(db.sql, idea, task, 2_000_000 + Math.floor(Math.random() * 1e6), 'succeeded');
    await db.sql`insert into codex_kb.preference_pairs (idea_id, task_id, kind, rejected_run_id, chosen_run_id, context, rejected, chosen, created_at)
                 values (${idea}, ${task}, 'retry', ${a}, ${b}, 'c', 'r', 'c', ${at})`;
  }
}

const events = (sql: Sql) => sql<{ event_id: string; data: any; subject: string }[]>`
  select event_id, data, subject from codex_kb.outbox where type = ${FINETUNE_EVENT} order by id`;

beforeAll(async () => {
  db = await createTestDb();
  idea = await seedIdea(db.sql);
  task = await seedTask(db.sql, idea, 'pairs');
});

describe('daily fine-tune trigger', () => {
  it('fires nothing with fewer than N new pairs', async () => {
    await pairs(4, new Date(DAY1.getTime() - 3600_000));
    expect(await requestFinetune({ sql: db.sql, log: silentLogger, config, now: () => DAY1 })).toBeUndefined();
    expect(await events(db.sql)).toHaveLength(0);
  });

  it('fires once under four concurrent ticks on separate pools, then once more the next day', async () => {
    await pairs(1, new Date(DAY1.getTime() - 60_000));
    const pools = [extraPool(db, 1), extraPool(db, 1), extraPool(db, 1), extraPool(db, 1)];
    const fired = await Promise.all(pools.map((sql) => requestFinetune({ sql, log: silentLogger, config, now: () => DAY1 })));
    expect(fired.filter(Boolean)).toHaveLength(1);
    const [e1] = await events(db.sql);
    expect((await events(db.sql))).toHaveLength(1);
    expect(e1!.data).toMatchObject({ day: '2026-11-20', pairs: 5, since: null, dataset: 'https://facteur.example/api/v1/kb/preference-pairs' });
    const [row] = await db.sql<{ event_id: string }[]>`select event_id from codex_kb.kb_finetune_triggers where day = '2026-11-20'`;
    expect(row!.event_id).toBe(e1!.event_id);
    // later the same day, with plenty of new pairs: still nothing
    await pairs(6, new Date(DAY1.getTime() + 60_000));
    const again = await Promise.all(pools.map((sql) => requestFinetune({ sql, log: silentLogger, config, now: () => new Date(DAY1.getTime() + 3600_000) })));
    expect(again.filter(Boolean)).toHaveLength(0);
    // the next day: one more, for the pairs made since the first trigger
    const next = await Promise.all(pools.map((sql) => requestFinetune({ sql, log: silentLogger, config, now: () => DAY2 })));
    expect(next.filter(Boolean)).toHaveLength(1);
    const all = await events(db.sql);
    expect(all).toHaveLength(2);
    expect(all[1]!.data).toMatchObject({ day: '2026-11-21', pairs: 6, since: '2026-11-20T10:00:00.000000Z' });
    expect(all[1]!.data.dataset).toBe('https://facteur.example/api/v1/kb/preference-pairs?since=2026-11-20T10%3A00%3A00.000000Z');
  });

  it('is what dispatch does on the PingSource\'s POST /kb/finetune (nothing more today)', async () => {
    const handler = createDispatchHandler({ sql: db.sql, config: loadConfig({ FACTEUR_ALLOW_UNAUTHENTICATED: 'true', FACTEUR_KB_FINETUNE_MIN_PAIRS: '1' }), log: silentLogger, workflows: undefined as never, callbackBaseUrl: 'http://localhost' });
    const server = await serve(handler);
    try {
      const post = () => fetch(`${server.url}/kb/finetune`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"kind":"kb.finetune"}' });
      const today = utcToday();
      await pairs(1, new Date(Date.now() - 1000));
      const r1 = await post();
      expect(r1.status).toBe(200);
      const b1 = await r1.json();
      // the real clock's day: one trigger (pairs exist since the last one), then none
      expect(b1.requested?.day).toBe(today);
      expect((await (await post()).json()).requested).toBeNull();
    } finally {
      await server.close();
    }
  });
});

const utcToday = () => new Date().toISOString().slice(0, 10);
