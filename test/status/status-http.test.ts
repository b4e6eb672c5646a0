import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { createStatusHandler } from '../../functions/status/index.js';
import { loadConfig, Secret } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { ideaSpec, postEvent, serve, type Served } from '../helpers/http.js';

let db: TestDb;
let intake: Served;
let status: Served;
const config = loadConfig({});
const get = async (path: string, headers: Record<string, string> = {}) => {
  const res = await fetch(status.url + path, { headers });
  return { status: res.status, body: (await res.json()) as any };
};

beforeAll(async () => {
  db = await createTestDb();
  intake = await serve(createIntakeHandler({ sql: db.sql, config, log: silentLogger }));
  status = await serve(createStatusHandler({ sql: db.sql, config, log: silentLogger }));
  for (let i = 0; i < 7; i++) {
    const r = await postEvent(intake.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: `s-${i}`, title: `Idea ${i}`, repository: i % 2 ? 'acme/odd' : 'acme/even' })) });
    expect(r.status).toBe(202);
  }
  await db.sql`update codex_kb.ideas set status = 'planning' where title = 'Idea 3'`;
});
afterAll(async () => {
  await intake.close();
  await status.close();
});

describe('status API', () => {
  it('lists ideas newest first with the documented fields', async () => {
    const r = await get('/v1/ideas');
    expect(r.status).toBe(200);
    expect(r.body.items).toHaveLength(7);
    expect(r.body.nextCursor).toBeNull();
    expect(Object.keys(r.body.items[0]).sort()).toEqual(
      ['createdAt', 'id', 'priority', 'repository', 'sourceRef', 'sourceType', 'status', 'statusReason', 'title', 'updatedAt'].sort(),
    );
    expect(r.body.items[0].title).toBe('Idea 6');
  });

  it('pages with a cursor without skipping or repeating, even for ideas created in one instant', async () => {
    await db.sql`update codex_kb.ideas set created_at = '2026-01-01T00:00:00Z'`;
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await get(`/v1/ideas?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...r.body.items.map((i: { id: string }) => i.id));
      cursor = r.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(7);
  });

  it('filters by status and repository', async () => {
    expect((await get('/v1/ideas?status=planning')).body.items.map((i: { title: string }) => i.title)).toEqual(['Idea 3']);
    expect((await get('/v1/ideas?repository=acme/odd')).body.items).toHaveLength(3);
    expect((await get('/v1/ideas?repository=ACME/Odd&status=registered')).body.items).toHaveLength(2);
  });

  it('answers 400 listing every bad query parameter', async () => {
    const r = await get('/v1/ideas?status=nope&limit=0&cursor=zzz&repository=x&colour=red');
    expect(r.status).toBe(400);
    expect(r.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['colour', 'cursor', 'limit', 'repository', 'status']);
  });

  it('shows one idea with its tasks, runs and events', async () => {
    const list = await get('/v1/ideas?limit=1');
    const id = list.body.items[0].id;
    const r = await get(`/v1/ideas/${id}`);
    expect(r.status).toBe(200);
    expect(r.body.idea).toMatchObject({ id, intent: { version: 'intent_v1' } });
    expect(r.body.tasks).toEqual([expect.objectContaining({ key: 'planning', stage: 'planning', state: 'pending', dependsOn: [] })]);
    expect(r.body.runs).toEqual([]);
    expect(Array.isArray(r.body.events)).toBe(true);
  });

  it('404 for an unknown or malformed id and an unknown route', async () => {
    expect((await get('/v1/ideas/00000000-0000-0000-0000-000000000000')).status).toBe(404);
    expect((await get('/v1/ideas/not-a-uuid')).status).toBe(404);
    expect((await get('/v2/whatever')).status).toBe(404);
  });

  it('requires the bearer token when FACTEUR_STATUS_TOKEN is set (healthz stays open for probes)', async () => {
    const locked = await serve(createStatusHandler({ sql: db.sql, config: { ...config, statusToken: new Secret('s3cret') }, log: silentLogger }));
    try {
      expect((await fetch(`${locked.url}/v1/ideas`)).status).toBe(401);
      expect((await fetch(`${locked.url}/v1/ideas`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${locked.url}/v1/ideas`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
      expect((await fetch(`${locked.url}/healthz`)).status).toBe(200);
    } finally {
      await locked.close();
    }
  });
});
