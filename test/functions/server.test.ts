// The container entry point (functions/server.ts) as a real process, both ways it serves:
// Node's own server reading each request with the node adapter (the default), and the
// Functions Framework's Express app (FACTEUR_HTTP_SERVER=functions-framework) — the same
// answers, the same dead letters, the same bytes kept; and the container's command itself,
// the bundle `npm run build` makes (dist/image/server.js, run by node alone).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { ideaSpec, postEvent } from '../helpers/http.js';
import { ensureImage } from '../helpers/build.js';
import { freePort, spawnEntry, type Child } from '../helpers/spawn.js';

let db: TestDb;

beforeAll(async () => {
  db = await createTestDb({ migrated: false });
  ensureImage();
}, 120_000);

describe.each([
  ['node', 'ff-node', 'functions/server.ts'],
  ['functions-framework', 'ff-fw', 'functions/server.ts'],
  ['node', 'ff-image', 'dist/image/server.js'],
])('the entry point (FACTEUR_HTTP_SERVER=%s, %s, %s)', (mode, tag, entry) => {
  let intake: Child;
  let status: Child;
  let intakeUrl: string;
  let statusUrl: string;

  beforeAll(async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    // intake starts first and migrates; status finds the schema current
    intake = await spawnEntry(entry, { FUNCTION_TARGET: 'intake', PORT: String(p1), DATABASE_URL: db.url, DATABASE_POOL_SIZE: '4', FACTEUR_HTTP_SERVER: mode }, /"msg":"serving"/);
    status = await spawnEntry(entry, { FUNCTION_TARGET: 'status', PORT: String(p2), DATABASE_URL: db.url, FACTEUR_STATUS_TOKEN: 'tok', FACTEUR_HTTP_SERVER: mode }, /"msg":"serving"/);
    intakeUrl = `http://127.0.0.1:${p1}`;
    statusUrl = `http://127.0.0.1:${p2}`;
  }, 60_000);
  afterAll(async () => {
    await intake?.stop();
    await status?.stop();
  });

  it('serves intake: 202, then 200 for the redelivery', async () => {
    const body = JSON.stringify(ideaSpec({ id: `${tag}-1` }));
    const r = await postEvent(intakeUrl, { topic: 'codex.intent', body });
    expect(r.status).toBe(202);
    expect((await postEvent(intakeUrl, { topic: 'codex.intent', body })).status).toBe(200);
    const list = await fetch(`${statusUrl}/v1/ideas`, { headers: { authorization: 'Bearer tok' } });
    expect(((await list.json()) as any).items.map((i: { id: string }) => i.id)).toContain(r.body.ideaId);
  });

  it('answers malformed JSON with our 400 and a dead letter, not the framework HTML page', async () => {
    const r = await postEvent(intakeUrl, { topic: 'codex.intent', body: '{"title": nope' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('malformed_json');
    const [dl] = await db.sql`select payload from codex_kb.dead_letters order by id desc limit 1`;
    expect(Buffer.from(dl!.payload).toString()).toBe('{"title": nope');
  });

  it('keeps protobuf bodies byte-exact', async () => {
    const { encodeCodexTask } = await import('../../shared/intake/codex-task.js');
    const bytes = encodeCodexTask({ stage: 'planning', repository: 'acme/ff', issueNumber: '9223372036854775807', deliveryId: `${tag}-proto` });
    const r = await postEvent(intakeUrl, { topic: 'github.issues.codex.tasks', contentType: 'application/x-protobuf', body: bytes });
    expect(r.status).toBe(202);
  });

  it('answers an oversized body with 413 and keeps a 64 KiB prefix, without buffering it whole', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 0x61);
    const r = await postEvent(intakeUrl, { topic: 'codex.intent', body: big });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('payload_too_large');
    const [dl] = await db.sql`select payload, payload_size, payload_truncated from codex_kb.dead_letters order by id desc limit 1`;
    expect(dl).toMatchObject({ payload_size: big.length, payload_truncated: true });
    expect(Buffer.from(dl!.payload).length).toBe(64 * 1024);
  });

  it('keeps the bytes of a body whose content type no framework parser knows', async () => {
    const r = await postEvent(intakeUrl, { topic: 'codex.intent', body: 'not json', contentType: '%00' });
    expect(r.status).toBe(415);
    const [dl] = await db.sql`select payload from codex_kb.dead_letters order by id desc limit 1`;
    expect(Buffer.from(dl!.payload).toString()).toBe('not json');
  });

  it('protects status with the bearer token and keeps /healthz open', async () => {
    expect((await fetch(`${statusUrl}/v1/ideas`)).status).toBe(401);
    expect((await fetch(`${statusUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${intakeUrl}/healthz`)).status).toBe(200);
  });

  it('never prints a secret in its logs', () => {
    expect(status.output()).not.toContain('tok"');
    expect(intake.output() + status.output()).not.toContain(db.url);
  });
});

describe('functions/server.ts refuses to serve an operator API without a token', () => {
  it('exits with a clear message for status without FACTEUR_STATUS_TOKEN', async () => {
    const port = await freePort();
    await expect(
      spawnEntry('functions/server.ts', { FUNCTION_TARGET: 'status', PORT: String(port), DATABASE_URL: db.url, FACTEUR_STATUS_TOKEN: '' }, /"msg":"serving"/, 15_000),
    ).rejects.toThrow(/exited with 2 before ready[\s\S]*FACTEUR_API_TOKENS \(or FACTEUR_STATUS_TOKEN, or FACTEUR_TAILSCALE_IDENTITY behind tailscale serve\) is required/);
  });
});

describe('functions/server.ts start-up failures are one line with what to do', () => {
  const start = async (env: Record<string, string>) => {
    const port = await freePort();
    const err = await spawnEntry('functions/server.ts', { FUNCTION_TARGET: 'intake', PORT: String(port), DATABASE_URL: db.url, ...env }, /"msg":"serving"/, 15_000).then(
      () => new Error('started'),
      (e: Error) => e,
    );
    const lines = err.message.split('\n').filter((l) => l.trim() && !l.startsWith('exited with'));
    return { message: err.message, lines };
  };

  it('a bad setting names the variable, exit 2, no stack', async () => {
    const r = await start({ FACTEUR_LIMIT_GLOBAL: 'abc' });
    expect(r.message).toMatch(/exited with 2 before ready/);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^facteur: invalid configuration: FACTEUR_LIMIT_GLOBAL/);
  });

  it('invalid FACTEUR_API_TOKENS is one line naming every problem, never the value', async () => {
    const r = await start({ FUNCTION_TARGET: 'status', FACTEUR_API_TOKENS: JSON.stringify([{ name: 'ci', sha256: 'clear-token-by-mistake', roles: ['root'] }]) });
    expect(r.message).toMatch(/exited with 2 before ready/);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^facteur: invalid configuration: FACTEUR_API_TOKENS \(0\.sha256: must be the 64 hex digits of sha256\(token\).*0\.roles\.0: must be one of viewer, operator, approver, admin/);
    expect(r.message).not.toContain('clear-token-by-mistake');
  });

  it('an unreachable database says where and what to do, without the password', async () => {
    const r = await start({ DATABASE_URL: 'postgres://u:sekret@127.0.0.1:1/x', DATABASE_CONNECT_TIMEOUT_S: '2' });
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/cannot reach the database at 127\.0\.0\.1:1\/x/);
    expect(r.message).not.toContain('sekret');
  });

  it('a port in use says so', async () => {
    const holder = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => holder.once('listening', resolve));
    try {
      const r = await start({ PORT: String((holder.address() as AddressInfo).port) });
      expect(r.lines.filter((l) => !l.startsWith('{'))).toEqual([expect.stringMatching(/port \d+ is in use: stop what holds it or set PORT/)]);
    } finally {
      holder.close();
    }
  });
});
