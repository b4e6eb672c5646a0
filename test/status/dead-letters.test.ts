// GET /v1/dead-letters and /v1/dead-letters/{id}: what intake refused, readable by an
// operator, over real HTTP on a real database; every bad query parameter is a 400, never a 500.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { createStatusHandler } from '../../functions/status/index.js';
import { loadConfig, Secret } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { PREVIEW_BYTES } from '../../shared/status/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { ideaSpec, postEvent, readAnswer, serve, type Served } from '../helpers/http.js';

let db: TestDb;
let intake: Served;
let status: Served;
let locked: Served;
const config = loadConfig({ FACTEUR_MAX_BODY_BYTES: '20000' });
const get = async (path: string, headers: Record<string, string> = {}, base = status.url) => readAnswer(await fetch(base + path, { headers }));

const BINARY = Buffer.from([0x0a, 0xff, 0x00, 0x13, 0x80, 0xfe, 0x01, 0x02]);
const BIG = 'x'.repeat(PREVIEW_BYTES + 1000);
const OVERSIZED = Buffer.alloc(100_000, 'y'); // over the body limit and over the 64 KiB a refusal keeps

beforeAll(async () => {
  db = await createTestDb();
  intake = await serve(createIntakeHandler({ sql: db.sql, config, log: silentLogger }), config.maxBodyBytes);
  status = await serve(createStatusHandler({ sql: db.sql, config, log: silentLogger }));
  locked = await serve(createStatusHandler({ sql: db.sql, config: { ...config, statusToken: new Secret('s3cret') }, log: silentLogger }));
  // four refused deliveries, oldest first: not JSON, not protobuf, too big for the spec, over the body limit
  const refused = [
    await postEvent(intake.url, { topic: 'codex.intent', body: '{"title": "half', headers: { authorization: 'Bearer leaked', 'x-trace': 'a' } }),
    await postEvent(intake.url, { topic: 'github.issues.codex.tasks', body: BINARY, contentType: 'application/x-protobuf' }),
    await postEvent(intake.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ title: '', goal: BIG })) }),
    await postEvent(intake.url, { topic: 'codex.intent', body: OVERSIZED }),
  ];
  expect(refused.map((r) => r.status)).toEqual([400, 400, 400, 413]);
  // and one accepted: not a dead letter
  expect((await postEvent(intake.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'fine' })) })).status).toBe(202);
});
afterAll(async () => {
  await intake.close();
  await status.close();
  await locked.close();
});

describe('dead letters API', () => {
  it('lists refused deliveries newest first, with the documented fields, headers redacted', async () => {
    const r = await get('/v1/dead-letters');
    expect(r.status).toBe(200);
    expect(r.body.nextCursor).toBeNull();
    expect(r.body.items).toHaveLength(4);
    const [oversized, big, binary, malformed] = r.body.items;
    expect(Object.keys(malformed).sort()).toEqual(
      ['contentType', 'deliveryKey', 'function', 'headers', 'id', 'payload', 'problems', 'reason', 'reasonCode', 'receivedAt', 'status', 'topic'].sort(),
    );
    expect(malformed).toMatchObject({
      function: 'intake', topic: 'codex.intent', status: 400, reasonCode: 'malformed_json', contentType: 'application/json',
      deliveryKey: expect.any(String), problems: [expect.objectContaining({ path: 'body' })],
    });
    expect(Date.parse(malformed.receivedAt)).toBeGreaterThan(Date.now() - 120_000);
    expect(malformed.headers.authorization).toBe('[redacted]');
    expect(malformed.headers['x-trace']).toBe('a');
    expect(JSON.stringify(r.body)).not.toContain('leaked');
    // text is given as text too; bytes that are not text only as base64
    expect(malformed.payload).toEqual({ base64: Buffer.from('{"title": "half').toString('base64'), utf8: '{"title": "half', size: 15, truncated: false });
    expect(binary.payload).toEqual({ base64: BINARY.toString('base64'), size: BINARY.length, truncated: false });
    expect(binary.contentType).toBe('application/x-protobuf');
    // a listing previews a big payload; the stored prefix of an oversized body is marked too
    expect(big.payload.truncated).toBe(true);
    expect(Buffer.from(big.payload.base64, 'base64')).toHaveLength(PREVIEW_BYTES);
    expect(big.payload.size).toBeGreaterThan(PREVIEW_BYTES);
    expect(oversized).toMatchObject({ status: 413, reasonCode: 'payload_too_large' });
    expect(oversized.payload).toMatchObject({ size: OVERSIZED.length, truncated: true });
  });

  it('one dead letter has its whole stored payload', async () => {
    const list = await get('/v1/dead-letters?reason=invalid_input');
    expect(list.body.items).toHaveLength(1);
    const id = list.body.items[0].id;
    const r = await get(`/v1/dead-letters/${id}`);
    expect(r.status).toBe(200);
    expect(r.body.id).toBe(id);
    const bytes = Buffer.from(r.body.payload.base64, 'base64');
    expect(bytes.length).toBe(r.body.payload.size);
    expect(r.body.payload.truncated).toBe(false);
    expect(r.body.payload.utf8).toBe(bytes.toString('utf8'));
    expect(r.body.payload.utf8).toContain(BIG);
    const oversized = (await get('/v1/dead-letters?reason=payload_too_large')).body.items[0];
    const full = await get(`/v1/dead-letters/${oversized.id}`);
    expect(full.body.payload).toMatchObject({ size: OVERSIZED.length, truncated: true });
    expect(Buffer.from(full.body.payload.base64, 'base64').length).toBeLessThan(OVERSIZED.length);
  });

  it('pages with a cursor without skipping or repeating, and filters by function and reason', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r: { status: number; body: any } = await get(`/v1/dead-letters?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      seen.push(...r.body.items.map((i: { id: string }) => i.id));
      cursor = r.body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(4);
    expect(new Set(seen).size).toBe(4);
    expect([...seen].sort((a, b) => Number(b) - Number(a))).toEqual(seen);
    expect((await get('/v1/dead-letters?function=intake')).body.items).toHaveLength(4);
    expect((await get('/v1/dead-letters?function=callbacks')).body.items).toHaveLength(0);
    expect((await get('/v1/dead-letters?reason=malformed_json')).body.items.map((i: { reasonCode: string }) => i.reasonCode)).toEqual(['malformed_json']);
    expect((await get('/v1/dead-letters?function=intake&reason=payload_too_large&limit=5')).body.items).toHaveLength(1);
  });

  it('answers 400 listing every bad query parameter', async () => {
    const r = await get('/v1/dead-letters?limit=0&cursor=zzz&function=DROP%20TABLE&reason=%00&colour=red');
    expect(r.status).toBe(400);
    expect(r.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['colour', 'cursor', 'function', 'limit', 'reason']);
    const forged = (s: string) => Buffer.from(s).toString('base64url');
    for (const q of [
      'limit=1e2', 'limit=-1', 'limit=201', 'limit=', 'limit=5&limit=6', `cursor=${forged('dl|0')}`, `cursor=${forged('dl|-1')}`,
      `cursor=${forged('dl|99999999999999999999')}`, `cursor=${forged('ideas|1')}`, `cursor=${'A'.repeat(5000)}`, 'function=', 'reason=' + 'a'.repeat(101),
    ]) {
      const res = await get(`/v1/dead-letters?${q}`);
      expect({ q, status: res.status }).toEqual({ q, status: 400 });
    }
  });

  it('never answers 500, whatever the query string or id (property)', async () => {
    const key = fc.constantFrom('limit', 'cursor', 'function', 'reason', 'x', '');
    const value = fc.oneof(fc.string(), fc.integer().map(String), fc.string({ unit: 'binary' }), fc.constantFrom('1', '50', 'intake', 'malformed_json'));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(key, value), { maxLength: 5 }), fc.oneof(fc.string(), fc.bigInt().map(String)), async (params, id) => {
        const q = new URLSearchParams(params).toString();
        const list = await get(`/v1/dead-letters?${q}`);
        expect([200, 400]).toContain(list.status);
        const one = await get(`/v1/dead-letters/${encodeURIComponent(id) || 'x'}`);
        expect([200, 404]).toContain(one.status);
      }),
      { numRuns: 60 },
    );
    // a malformed escape in the path, too: the caller's mistake, named
    for (const path of ['/v1/dead-letters/%E0%A4%A', '/v1/ideas/%E0%A4%A']) {
      const res = await get(path);
      expect({ path, status: res.status, code: res.body.error.code }).toEqual({ path, status: 400, code: 'malformed_path' });
    }
  });

  it('the ideas cursor only accepts what it wrote (a loose date would reach PostgreSQL and fail as a 500)', async () => {
    const uuid = '00000000-0000-4000-8000-000000000000';
    for (const text of [`1|${uuid}`, `2026-02-30T00:00:00.000000Z|${uuid}`, `2026-01-01|${uuid}`]) {
      const res = await get(`/v1/ideas?cursor=${Buffer.from(text).toString('base64url')}`);
      expect({ text, status: res.status }).toEqual({ text, status: 400 });
    }
  });

  it('404 for an unknown, malformed or out-of-range id', async () => {
    expect((await get('/v1/dead-letters/999999')).status).toBe(404);
    expect((await get('/v1/dead-letters/abc')).status).toBe(404);
    expect((await get('/v1/dead-letters/0')).status).toBe(404);
    expect((await get('/v1/dead-letters/99999999999999999999')).status).toBe(404);
  });

  it('needs the status token when one is set; the index of routes does not', async () => {
    expect((await get('/v1/dead-letters', {}, locked.url)).status).toBe(401);
    expect((await get('/v1/dead-letters', { authorization: 'Bearer wrong' }, locked.url)).status).toBe(401);
    const ok = await get('/v1/dead-letters', { authorization: 'Bearer s3cret' }, locked.url);
    expect(ok.status).toBe(200);
    expect(ok.body.items).toHaveLength(4);
    expect((await get(`/v1/dead-letters/${ok.body.items[0].id}`, {}, locked.url)).status).toBe(401);
    expect((await get(`/v1/dead-letters/${ok.body.items[0].id}`, { authorization: 'Bearer s3cret' }, locked.url)).status).toBe(200);
    const index = await get('/', {}, locked.url);
    expect(index.status).toBe(200);
    expect(index.body).toMatchObject({ service: 'facteur status API', auth: 'bearer token' });
    const routes = index.body.routes.map((r: { method: string; path: string }) => `${r.method} ${r.path}`);
    expect(routes).toEqual(expect.arrayContaining(['GET /v1/ideas', 'GET /v1/ideas/{id}', 'GET /v1/runs/{id}', 'GET /v1/dead-letters', 'GET /v1/dead-letters/{id}']));
    expect(JSON.stringify(index.body)).not.toContain('s3cret');
  });

  it('newest first by number, not by text: dead letter 10 comes before 9 (last: it adds refusals)', async () => {
    for (let i = 0; i < 8; i++) expect((await postEvent(intake.url, { topic: 'codex.intent', body: `{"broken": ${i}` })).status).toBe(400);
    const ids = (await get('/v1/dead-letters?limit=100')).body.items.map((i: { id: string }) => Number(i.id));
    expect(ids.length).toBe(12);
    expect(ids.some((id: number) => id >= 10)).toBe(true);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const paged: number[] = [];
    for (let cursor: string | null = null, first = true; first || cursor; first = false) {
      const r: { body: any } = await get(`/v1/dead-letters?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...r.body.items.map((i: { id: string }) => Number(i.id)));
      cursor = r.body.nextCursor;
    }
    expect(paged).toEqual(ids);
  });
});
