// Every route of the status and policy APIs × every kind of caller, against live servers on
// real PostgreSQL: the expected answer of each cell is derived from the route's declared role
// and the caller's configured roles (401 not authenticated, 403 lacking the role or naming a
// person without actFor, anything else below 500 when allowed).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPolicyHandler } from '../../functions/policy/index.js';
import { createStatusHandler } from '../../functions/status/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { loadPolicyPacks } from '../../shared/policy/store.js';
import { POLICY_ROUTES } from '../../shared/policy/routes.js';
import { STATUS_ROUTES } from '../../shared/status/routes.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { readAnswer, serve, type Served } from '../helpers/http.js';
import { callers, concrete, ENV, grants, type Caller } from './callers.js';

let db: TestDb;
const servers: Record<string, Served> = {};

beforeAll(async () => {
  db = await createTestDb();
  await loadPolicyPacks(db.sql, undefined);
  const on = loadConfig(ENV);
  const off = loadConfig({ ...ENV, FACTEUR_TAILSCALE_IDENTITY: 'false', FACTEUR_TAILSCALE_ROLES: '' });
  servers.statusOn = await serve(createStatusHandler({ sql: db.sql, config: on, log: silentLogger }));
  servers.statusOff = await serve(createStatusHandler({ sql: db.sql, config: off, log: silentLogger }));
  servers.policyOn = await serve(createPolicyHandler({ sql: db.sql, config: on, log: silentLogger }));
  servers.policyOff = await serve(createPolicyHandler({ sql: db.sql, config: off, log: silentLogger }));
});
afterAll(async () => {
  for (const s of Object.values(servers)) await s.close();
});

function expected(route: { role: string }, caller: Caller): 'allowed' | 401 | 403 {
  if (route.role === 'public') return 'allowed';
  if (caller.roles === undefined) return 401;
  if (caller.refused) return 403;
  return grants(caller.roles, route.role as never) ? 'allowed' : 403;
}

const apis = [
  { api: 'status', routes: STATUS_ROUTES },
  { api: 'policy', routes: POLICY_ROUTES },
] as const;

describe('roles: every route × every caller', () => {
  for (const { api, routes } of apis) {
    for (const tailscale of [true, false]) {
      it(`${api} API, Tailscale identity ${tailscale ? 'on' : 'off'}`, async () => {
        const url = servers[`${api}${tailscale ? 'On' : 'Off'}`]!.url;
        const cells: string[] = [];
        for (const route of routes) {
          for (const caller of callers(tailscale)) {
            const path = concrete(route.path, randomUUID());
            const res = await readAnswer(await fetch(url + path, { method: route.method, headers: caller.headers }));
            const want = expected(route, caller);
            const got = want === 'allowed' ? (res.status === 401 || res.status === 403 ? res.status : 'allowed') : res.status;
            if (got !== want || res.status >= 500) cells.push(`${route.method} ${route.path} as ${caller.name}: wanted ${want}, got ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
            if (want === 403) expect(res.body.error.message, `${route.path} ${caller.name}`).toMatch(caller.refused ? /X-Facteur-Actor/ : new RegExp(`needs the ${route.role} role`));
          }
        }
        expect(cells).toEqual([]);
      });
    }
  }

  it('no credential and an unknown one get the same answer', async () => {
    const url = servers.statusOn!.url;
    const a = await readAnswer(await fetch(`${url}/v1/ideas`));
    const b = await readAnswer(await fetch(`${url}/v1/ideas`, { headers: { authorization: 'Bearer guess' } }));
    const c = await readAnswer(await fetch(`${url}/v1/nowhere`, { headers: { authorization: 'Bearer guess' } }));
    expect(a).toEqual(b);
    expect(c).toEqual(a);
    expect(a.status).toBe(401);
  });

  it('the index lists every route with its role, without credentials', async () => {
    const r = await readAnswer(await fetch(`${servers.statusOn!.url}/`));
    expect(r.status).toBe(200);
    expect(r.body.auth).toBe('bearer token, tailscale');
    expect(r.body.routes).toEqual(STATUS_ROUTES.map((x) => ({ ...x })));
    for (const path of ['/v1/policy-packs', '/v1/repositories/{owner}/{repo}/policy', '/v1/runs/{id}/findings']) {
      expect(r.body.routes.map((x: { path: string }) => x.path)).toContain(path);
    }
  });

  it('a malformed X-Facteur-Actor from an actFor token is a 400 naming the header', async () => {
    const { TOKENS } = await import('./callers.js');
    const r = await readAnswer(await fetch(`${servers.statusOn!.url}/v1/ideas`, { headers: { authorization: `Bearer ${TOKENS['chat-bot'].token}`, 'x-facteur-actor': 'a b<script>' } }));
    expect(r.status).toBe(400);
    expect(r.body.error.issues).toEqual([expect.objectContaining({ path: 'headers.x-facteur-actor' })]);
  });
});
