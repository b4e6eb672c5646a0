// Discord's /idea over real HTTP, signed with a real Ed25519 key pair made here (Discord is
// the outer boundary: this test plays it). PING, an idea registered once per interaction id,
// forged / missing / stale / tampered signatures refused with 401 and kept, bad options
// answered with every problem.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { postEvent, ideaSpec, serve, type Served } from '../helpers/http.js';

const pair = () => generateKeyPairSync('ed25519');
const rawHex = (key: KeyObject) => key.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
const DISCORD = pair();
const INTRUDER = pair();

let db: TestDb;
let intake: Served;
let unconfigured: Served;
const config = loadConfig({ FACTEUR_DISCORD_PUBLIC_KEY: rawHex(DISCORD.publicKey), FACTEUR_DASHBOARD_URL: 'https://facteur.example.ts.net/', FACTEUR_INTAKE_TOKEN: 'intake-token' });

beforeAll(async () => {
  db = await createTestDb();
  intake = await serve(createIntakeHandler({ sql: db.sql, config, log: silentLogger }));
  unconfigured = await serve(createIntakeHandler({ sql: db.sql, config: loadConfig({ FACTEUR_INTAKE_TOKEN: 'intake-token' }), log: silentLogger }));
});
afterAll(async () => {
  await intake?.close();
  await unconfigured?.close();
});

interface Signed {
  readonly key?: KeyObject;
  readonly timestamp?: number;
  readonly headers?: Record<string, string>;
  /** Signs these bytes instead of the body sent. */
  readonly signedBody?: string;
}

async function interact(body: unknown, o: Signed = {}, base = intake.url): Promise<{ status: number; body: any }> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const timestamp = String(o.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = sign(null, Buffer.from(timestamp + (o.signedBody ?? text)), o.key ?? DISCORD.privateKey).toString('hex');
  const headers = o.headers ?? { 'x-signature-ed25519': signature, 'x-signature-timestamp': timestamp };
  const res = await fetch(`${base}/discord/interactions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: text });
  const out = await res.text();
  return { status: res.status, body: out ? JSON.parse(out) : null };
}

let nextId = 1_200_000_000_000_000_000n;
function idea(options: Record<string, unknown>, over: Record<string, unknown> = {}) {
  return {
    id: String(nextId++), application_id: '1100000000000000000', type: 2, token: 'interaction-token', version: 1, guild_id: '1000', channel_id: '2000',
    member: { user: { id: '42', username: 'ada' }, roles: [] },
    data: { id: '1300', name: 'idea', type: 1, options: Object.entries(options).map(([name, value]) => ({ name, type: 3, value })) },
    ...over,
  };
}
const GOOD = { repository: 'Acme/Shop', goal: 'Checkout answers in under 200 ms', 'success-metrics': 'p95 < 200 ms; no error-rate increase', constraints: 'keep the API', labels: 'perf, discord' };

const deadLetters = async () => (await db.sql`select reason_code, status_code, topic from codex_kb.dead_letters order by id`) as unknown as { reason_code: string; status_code: number; topic: string }[];

describe('Discord interactions', () => {
  it('answers a signed PING with {"type":1}', async () => {
    expect(await interact({ id: '1', type: 1, application_id: '1' })).toEqual({ status: 200, body: { type: 1 } });
  });

  it('/idea registers an Idea Spec and answers ephemerally with its id and status link; a replay of the interaction finds the same idea', async () => {
    const body = idea(GOOD);
    const r = await interact(body);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ type: 4, data: { flags: 64, allowed_mentions: { parse: [] } } });
    const [, ideaId] = /^Idea registered: ([0-9a-f-]{36})\nStatus: https:\/\/facteur\.example\.ts\.net\/ideas\/\1$/.exec(r.body.data.content) ?? [];
    expect(ideaId, r.body.data.content).toBeTruthy();
    const [row] = await db.sql`select * from codex_kb.ideas where id = ${ideaId!}`;
    expect(row).toMatchObject({ source_type: 'discord', source_ref: `interaction:${body.id}`, repository: 'acme/shop', title: 'Checkout answers in under 200 ms', status: 'registered' });
    expect(row!.labels).toEqual(['discord', 'perf']);
    expect(row!.initiator).toEqual({ kind: 'discord', login: 'ada' });
    expect(row!.intent).toMatchObject({ successMetrics: ['p95 < 200 ms', 'no error-rate increase'], constraints: ['keep the API'] });
    expect(await db.sql`select key from codex_kb.tasks where idea_id = ${ideaId!}`).toEqual([{ key: 'planning' }]);
    const [delivery] = await db.sql`select delivery_key, kind, topic from codex_kb.deliveries where idea_id = ${ideaId!}`;
    expect(delivery).toEqual({ delivery_key: `discord-interaction:${body.id}`, kind: 'idea_spec', topic: 'discord.interactions' });

    // the same interaction again (a replay within the timestamp window): nothing new
    const replay = await interact(body);
    expect(replay.body.data.content).toBe(`Already registered: ${ideaId}\nStatus: https://facteur.example.ts.net/ideas/${ideaId}`);
    expect(await db.sql`select 1 from codex_kb.ideas where source_ref = ${`interaction:${body.id}`}`).toHaveLength(1);
  });

  it('bad options: every problem listed in the answer, nothing registered', async () => {
    const body = idea({ repository: 'not a repo', constraints: 'x', colour: 'blue' }, {});
    body.data.options.push({ name: 'labels', type: 4, value: 5 as never });
    const r = await interact(body);
    expect(r.status).toBe(200);
    expect(r.body.data.flags).toBe(64);
    const lines = r.body.data.content.split('\n');
    expect(lines[0]).toBe('Your idea was not registered:');
    expect(lines.slice(1).map((l: string) => l.replace(/^• ([^:]+):.*$/, '$1')).sort()).toEqual(['colour', 'goal', 'labels', 'repository', 'success-metrics']);
    expect(await db.sql`select 1 from codex_kb.ideas where source_ref = ${`interaction:${body.id}`}`).toHaveLength(0);
  });

  it('another command, or a component, is answered without registering anything', async () => {
    const r = await interact(idea(GOOD, { data: { id: '1', name: 'status', type: 1 } }));
    expect(r.body).toMatchObject({ type: 4, data: { content: 'Facteur answers only the /idea command.', flags: 64 } });
  });
});

describe('refused interactions: 401 (or 400), kept as dead letters, nothing registered', () => {
  it.each([
    ['signed with another key', { key: INTRUDER.privateKey }],
    ['a stale timestamp (10 minutes old)', { timestamp: Math.floor(Date.now() / 1000) - 600 }],
    ['a timestamp from the future', { timestamp: Math.floor(Date.now() / 1000) + 600 }],
    ['a tampered body', { signedBody: JSON.stringify(idea({ ...GOOD, repository: 'acme/other' })) }],
    ['no signature headers', { headers: {} }],
    ['a signature that is not hex', { headers: { 'x-signature-ed25519': 'zz'.repeat(64), 'x-signature-timestamp': String(Math.floor(Date.now() / 1000)) } }],
    ['a timestamp that is not a number', { headers: { 'x-signature-ed25519': '00'.repeat(64), 'x-signature-timestamp': '1e9' } }],
  ] as [string, Signed][])('%s → 401', async (_name, o) => {
    const before = (await deadLetters()).length;
    const body = idea(GOOD);
    const r = await interact(body, o);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('bad_signature');
    const letters = await deadLetters();
    expect(letters).toHaveLength(before + 1);
    expect(letters.at(-1)).toEqual({ reason_code: 'bad_signature', status_code: 401, topic: 'discord.interactions' });
    expect(await db.sql`select 1 from codex_kb.ideas where source_ref = ${`interaction:${body.id}`}`).toHaveLength(0);
  });

  it.each([
    ['malformed JSON', '{"type":'],
    ['not an interaction', { type: 'ping' }],
    ['a hostile id', { id: '1; drop table', type: 1 }],
    ['NUL in a value', idea({ ...GOOD, goal: 'a\u0000b' })],
  ])('%s (signed) → 400 listing the problems, kept', async (_name, body) => {
    const r = await interact(body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toMatch(/malformed_json|validation|invalid/);
    expect((await deadLetters()).at(-1)).toMatchObject({ status_code: 400, topic: 'discord.interactions' });
  });

  it('the endpoint is off without FACTEUR_DISCORD_PUBLIC_KEY; CloudEvents still need intake\'s token', async () => {
    expect((await interact({ id: '1', type: 1 }, {}, unconfigured.url)).status).toBe(404);
    const r = await postEvent(intake.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec()) });
    expect(r.status).toBe(401);
  });

  it('GET on the endpoint is a 405', async () => {
    const res = await fetch(`${intake.url}/discord/interactions`);
    expect(res.status).toBe(405);
  });
});
