// `npm start` as real processes: one process per data dir (a second start refuses with one
// line and touches nothing), one-line start-up errors, the pages at / and /status/, dead
// letters behind the token, the demo with tokens, and a clean SIGTERM after which the
// database reopens (over a stale lock) with every idea.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/spawn.js';
import { ideaSpec, postEvent } from '../helpers/http.js';
import { deadPid, lines, removeDir, run, startLocalProcess, stop, tempDir, until, type Proc } from './proc.js';

const STATUS_TOKEN = 'st-' + Math.random().toString(36).slice(2);
const INTAKE_TOKEN = 'it-' + Math.random().toString(36).slice(2);
// the data dir's name must come out escaped on the HTML page
const parent = tempDir('facteur-lm-');
const dataDir = join(parent, 'data <b>&"x"');
let port: number;
let url: string;
let local: Proc;
const env = () => ({
  FACTEUR_DATA_DIR: dataDir, PORT: String(port), FACTEUR_STATUS_TOKEN: STATUS_TOKEN, FACTEUR_INTAKE_TOKEN: INTAKE_TOKEN,
  // every idea ends quickly (its planning fails, one attempt): the demo has an end to follow
  EXAMPLE_FAIL: 'planning', EXAMPLE_STEP_MS: '10', FACTEUR_MAX_ATTEMPTS: '1',
});
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const ideas = async () => ((await (await fetch(`${url}/status/v1/ideas`, { headers: bearer(STATUS_TOKEN) })).json()) as { items: { id: string }[] }).items;
const post = (id: string) => postEvent(url, { topic: 'codex.intent', path: '/intake', body: JSON.stringify(ideaSpec({ id })), headers: bearer(INTAKE_TOKEN) });
/** What a refused start could have left: top-level entries (temp files, a second lock) and the lock's content. */
const snapshot = (dir: string) => ({ entries: readdirSync(dir).sort(), lock: readFileSync(join(dir, 'facteur.lock'), 'utf8') });

beforeAll(async () => {
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  local = await startLocalProcess(env());
}, 90_000);
afterAll(async () => {
  await stop(local);
  removeDir(parent);
});

describe('local mode as a process', () => {
  it('a second start on the same data dir refuses in one line, on the same port or another, touching nothing; the first keeps serving', async () => {
    expect((await post('before-second')).status).toBe(202);
    const before = snapshot(dataDir);
    const samePort = run('bin/facteur-local.ts', env());
    const otherPort = run('bin/facteur-local.ts', { ...env(), PORT: String(await freePort()) });
    for (const p of [samePort, otherPort]) {
      expect(await p.exited).toBe(1);
      expect(lines(p.stderr())).toHaveLength(1);
      expect(p.stderr()).toContain(`is in use by another Facteur, pid ${local.pid} at ${url}`);
      expect(p.stderr()).toMatch(/stop it first .*kill \d+.*FACTEUR_DATA_DIR/);
    }
    expect(snapshot(dataDir)).toEqual(before);
    expect((await post('after-second')).status).toBe(202);
    expect(await ideas()).toHaveLength(2);
  }, 60_000);

  it('start-up errors are one line saying what to do, and a refused start leaves no data dir behind', async () => {
    const fresh = (n: number) => join(parent, `never-created-${n}`);
    const unwritable = join(parent, 'a-file');
    writeFileSync(unwritable, '');
    const damaged = join(parent, 'damaged');
    mkdirSync(join(damaged, 'pgdata'), { recursive: true });
    writeFileSync(join(damaged, 'pgdata', 'PG_VERSION'), '15\n');
    const cases: [Record<string, string>, RegExp][] = [
      [{ FACTEUR_DATA_DIR: fresh(1), PORT: String(port) }, new RegExp(`^facteur: port ${port} is in use .*set PORT=`)],
      [{ FACTEUR_DATA_DIR: fresh(2), FACTEUR_LIMIT_GLOBAL: 'abc', PORT: '0' }, /^facteur: invalid configuration: FACTEUR_LIMIT_GLOBAL \(.*\)\. Fix or unset these variables/],
      [{ FACTEUR_DATA_DIR: fresh(3), DATABASE_URL: 'postgres://me:pw-not-printed@127.0.0.1:1/facteur', PORT: '0' }, /^facteur: cannot reach the database at 127\.0\.0\.1:1\/facteur \(ECONNREFUSED\): start it or fix DATABASE_URL/],
      [{ FACTEUR_DATA_DIR: join(unwritable, 'sub'), PORT: '0' }, /^facteur: the data dir .* is not writable \(ENOTDIR\).*FACTEUR_DATA_DIR/],
      [{ FACTEUR_DATA_DIR: damaged, PORT: '0' }, /^facteur: the embedded database in .*damaged.* does not open \(RuntimeError: .*\): the data dir may be damaged.*FACTEUR_DATA_DIR=/],
    ];
    const procs = cases.map(([e]) => run('bin/facteur-local.ts', e));
    for (const [i, p] of procs.entries()) {
      expect(await p.exited).toBe(1);
      const text = p.stderr();
      expect({ i, lines: lines(text).length }).toEqual({ i, lines: 1 });
      expect(text).toMatch(cases[i]![1]);
      expect(text).not.toMatch(/\n\s+at |pw-not-printed/);
      expect(text.length).toBeLessThan(600);
    }
    for (const n of [1, 2, 3]) expect(existsSync(fresh(n))).toBe(false);
    expect(readdirSync(join(damaged, 'pgdata'))).toEqual(['PG_VERSION']); // left as it is
    // FACTEUR_LOG_LEVEL=debug adds the stack, bounded
    const debug = run('bin/facteur-local.ts', { FACTEUR_DATA_DIR: damaged, PORT: '0', FACTEUR_LOG_LEVEL: 'debug' });
    expect(await debug.exited).toBe(1);
    expect(debug.stderr()).toMatch(/caused by: RuntimeError/);
    expect(debug.stderr().split('\n').every((l) => l.length < 400)).toBe(true);
  }, 60_000);

  it('Ctrl-C during the start: the start completes, then the clean shutdown (exit 0, lock released)', async () => {
    const dir = join(parent, 'ctrl-c-at-start');
    const p = run('bin/facteur-local.ts', { FACTEUR_DATA_DIR: dir, PORT: '0' });
    // the lock is taken before the database opens, which takes seconds: a signal now lands mid-start
    await until('the lock taken', async () => existsSync(join(dir, 'facteur.lock')), 30_000, 20);
    p.proc.kill('SIGINT');
    expect(await p.exited).toBe(0);
    expect(p.output()).toContain('stopping as soon as the start is done');
    expect(p.output()).toContain('shutdown: data dir unlocked');
    expect(readdirSync(dir).sort()).toEqual(['pgdata', 'repos', 'work']);
  }, 60_000);

  it('/ sends a browser to the dashboard and answers JSON to others; /home is the same page as HTML, listing the functions, the status routes and the data dir; /status/ indexes the API', async () => {
    const browser = await fetch(`${url}/`, { headers: { accept: 'text/html,*/*;q=0.8' }, redirect: 'manual' });
    expect(browser.status).toBe(303);
    expect(browser.headers.get('location')).toBe('/status/ui/ideas');
    expect((await fetch(`${url}/`)).headers.get('content-type')).toMatch(/^application\/json/);
    const html = await fetch(`${url}/home`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await html.text();
    for (const fn of ['intake', 'status', 'dispatch', 'callbacks', 'policy']) expect(page).toContain(`<code>/${fn}</code>`);
    expect(page).toContain('<a href="/status/v1/dead-letters">');
    expect(page).toContain('data &lt;b&gt;&amp;&quot;x&quot;');
    expect(page).not.toContain('<b>&');
    const json = (await (await fetch(`${url}/`, { headers: { accept: 'application/json' } })).json()) as any;
    expect(json).toMatchObject({ ok: true, url, dataDir, pid: local.pid, functions: expect.arrayContaining(['/intake', '/status']) });
    expect(json.status.map((r: { path: string }) => r.path)).toEqual(expect.arrayContaining(['/status/v1/ideas', '/status/v1/dead-letters/{id}']));
    // every route with the role it needs, the policy API's included
    expect(json.status).toEqual(expect.arrayContaining([
      expect.objectContaining({ method: 'GET', path: '/status/v1/ideas', role: 'viewer' }),
      expect.objectContaining({ method: 'POST', path: '/status/v1/policy-packs', role: 'admin' }),
      expect.objectContaining({ method: 'PUT', path: '/status/v1/repositories/{owner}/{repo}/policy', role: 'admin' }),
      expect.objectContaining({ method: 'POST', path: '/status/v1/ideas/{id}/{pause|resume|cancel|retry}', role: 'operator' }),
    ]));
    expect(json.auth.status).toBe('bearer token');
    expect(page).toContain('<td>/status/v1/policy-packs/{key}/{version}/activate</td><td>admin</td>');
    for (const path of ['/status/', '/status']) {
      const index = await fetch(url + path);
      expect(index.status).toBe(200);
      expect(((await index.json()) as any).routes.map((r: { path: string }) => r.path)).toContain('/v1/dead-letters');
    }
    expect((await fetch(`${url}/nowhere`)).status).toBe(404);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('dead letters of local mode are readable behind the status token', async () => {
    const bad = await postEvent(url, { topic: 'codex.intent', path: '/intake', body: 'not json', headers: bearer(INTAKE_TOKEN) });
    expect(bad.status).toBe(400);
    expect((await fetch(`${url}/status/v1/dead-letters`)).status).toBe(401);
    const list = (await (await fetch(`${url}/status/v1/dead-letters?function=intake`, { headers: bearer(STATUS_TOKEN) })).json()) as any;
    expect(list.items[0]).toMatchObject({ function: 'intake', reasonCode: 'malformed_json', payload: { utf8: 'not json', size: 8 }, headers: { authorization: '[redacted]' } });
    const one = await fetch(`${url}/status/v1/dead-letters/${list.items[0].id}`, { headers: bearer(STATUS_TOKEN) });
    expect(one.status).toBe(200);
    expect((await fetch(`${url}/status/v1/dead-letters?limit=abc&x=1`, { headers: bearer(STATUS_TOKEN) })).status).toBe(400);
  });

  it('the demo sends the tokens it is given and follows the idea to its end; a refusal is one line, never a TypeError', async () => {
    const demo = run('bin/facteur-demo.ts', { FACTEUR_URL: url, FACTEUR_STATUS_TOKEN: STATUS_TOKEN, FACTEUR_INTAKE_TOKEN: INTAKE_TOKEN });
    expect(await demo.exited).toBe(0);
    expect(demo.output()).toMatch(/idea [0-9a-f-]{36} registered/);
    expect(demo.output()).toMatch(/idea blocked/);
    const noStatusToken = run('bin/facteur-demo.ts', { FACTEUR_URL: url, FACTEUR_INTAKE_TOKEN: INTAKE_TOKEN });
    const noIntakeToken = run('bin/facteur-demo.ts', { FACTEUR_URL: url, FACTEUR_STATUS_TOKEN: STATUS_TOKEN });
    const nobody = run('bin/facteur-demo.ts', { FACTEUR_URL: `http://127.0.0.1:${await freePort()}` });
    expect(await noStatusToken.exited).toBe(1);
    expect(lines(noStatusToken.stderr())).toEqual([expect.stringMatching(/^demo: status answered 401 \(unauthorized: .*\): set FACTEUR_STATUS_TOKEN/)]);
    expect(await noIntakeToken.exited).toBe(1);
    expect(lines(noIntakeToken.stderr())).toEqual([expect.stringMatching(/^demo: intake answered 401 .*: set FACTEUR_INTAKE_TOKEN/)]);
    expect(await nobody.exited).toBe(1);
    expect(lines(nobody.stderr())).toEqual([expect.stringMatching(/^demo: cannot reach .*: start Facteur with `npm start` first/)]);
    for (const p of [noStatusToken, noIntakeToken, nobody]) expect(p.output()).not.toContain('TypeError');
  }, 60_000);

  it('SIGTERM: exit 0, one line per phase, the lock released; the next start takes over a stale lock and finds every idea', async () => {
    const before = (await ideas()).map((i) => i.id).sort();
    expect(before.length).toBeGreaterThanOrEqual(3);
    expect(await stop(local, 'SIGTERM')).toBe(0);
    const out = local.output();
    for (const phase of ['refusing new requests', 'tick stopped', 'server closed', 'database pool closed', 'embedded database closed', 'data dir unlocked']) {
      expect(out).toContain(`"msg":"shutdown: ${phase}`);
    }
    expect(existsSync(join(dataDir, 'facteur.lock'))).toBe(false);
    expect(existsSync(join(dataDir, 'runs'))).toBe(false);
    // as if the process had been killed: its lock stays behind
    const dead = await deadPid();
    writeFileSync(join(dataDir, 'facteur.lock'), JSON.stringify({ pid: dead, port, url, startedAt: new Date().toISOString(), host: (await import('node:os')).hostname(), bootId: null, procStart: null, nonce: 'old' }));
    local = await startLocalProcess(env());
    expect(local.output()).toMatch(new RegExp(`taking over a stale lock.*"pid":${dead}`));
    expect((await ideas()).map((i) => i.id).sort()).toEqual(before);
    expect(JSON.parse(readFileSync(join(dataDir, 'facteur.lock'), 'utf8'))).toMatchObject({ pid: local.pid, port, url });
  }, 90_000);
});
