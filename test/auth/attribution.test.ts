// Every action is attributed in the audit log to the identity that was verified: the token's
// name, the Tailscale login, or the person an actFor token names — never a header alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { createStatusHandler } from '../../functions/status/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { loadPolicyPacks } from '../../shared/policy/store.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { ideaSpec, postEvent, readAnswer, serve, type Served } from '../helpers/http.js';
import { ENV, TOKENS } from './callers.js';

let db: TestDb;
let status: Served;
let intake: Served;
let ideaId: string;

beforeAll(async () => {
  db = await createTestDb();
  await loadPolicyPacks(db.sql, undefined);
  const config = loadConfig(ENV);
  status = await serve(createStatusHandler({ sql: db.sql, config, log: silentLogger }));
  intake = await serve(createIntakeHandler({ sql: db.sql, config: loadConfig({}), log: silentLogger }));
  const r = await postEvent(intake.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'attr-1' })) });
  expect(r.status).toBe(202);
  ideaId = r.body.ideaId;
});
afterAll(async () => {
  await status.close();
  await intake.close();
});

const act = async (action: string, headers: Record<string, string>) =>
  readAnswer(await fetch(`${status.url}/v1/ideas/${ideaId}/${action}`, { method: 'POST', headers }));

describe('audit attribution', () => {
  it('token, actFor person and Tailscale login each appear as verified; refused calls leave nothing', async () => {
    expect((await act('pause', { authorization: `Bearer ${TOKENS.operator.token}` })).status).toBe(200);
    expect((await act('resume', { authorization: `Bearer ${TOKENS['chat-bot'].token}`, 'x-facteur-actor': 'alice' })).status).toBe(200);
    expect((await act('pause', { 'tailscale-user-login': 'root@example.com' })).status).toBe(200);
    // refused: a person named by a token without actFor, a Tailscale login without the role
    expect((await act('resume', { authorization: `Bearer ${TOKENS.admin.token}`, 'x-facteur-actor': 'mallory' })).status).toBe(403);
    expect((await act('resume', { 'tailscale-user-login': 'alice@example.com' })).status).toBe(403);
    expect((await act('resume', { authorization: `Bearer ${TOKENS.viewer.token}` })).status).toBe(403);
    const audit = await db.sql`select actor, action from codex_kb.audit_log where idea_id = ${ideaId} and action in ('idea.pause', 'idea.resume', 'idea.cancel', 'idea.retry') order by id`;
    expect(audit.map((a) => `${a.actor} ${a.action}`)).toEqual([
      'token:operator idea.pause',
      'alice via token:chat-bot idea.resume',
      'tailscale:root@example.com idea.pause',
    ]);
  });

  it('policy changes through the API are attributed to the admin who made them', async () => {
    const source = 'schemaVersion: 1\nkey: attributed\nversion: 1\nrules:\n  churn: { mode: warn, maxLinesPerTask: 10 }\n';
    const stored = await readAnswer(await fetch(`${status.url}/v1/policy-packs`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.admin.token}`, 'content-type': 'application/yaml' }, body: source }));
    expect(stored.status).toBe(201);
    const activated = await fetch(`${status.url}/v1/policy-packs/attributed/1/activate`, { method: 'POST', headers: { 'tailscale-user-login': 'root@example.com' } });
    expect(activated.status).toBe(200);
    const put = await fetch(`${status.url}/v1/repositories/acme/web/policy`, {
      method: 'PUT', headers: { authorization: `Bearer ${TOKENS.admin.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pack: { key: 'attributed', version: null } }),
    });
    expect(put.status).toBe(200);
    const audit = await db.sql`select actor, action, subject_id from codex_kb.audit_log where action like 'policy.%' and actor <> 'facteur' order by id`;
    expect(audit.map((a) => `${a.actor} ${a.action} ${a.subject_id}`)).toEqual([
      'token:admin policy.pack_stored attributed@1',
      'tailscale:root@example.com policy.pack_activated attributed@1',
      'token:admin policy.repository_set acme/web',
    ]);
  });
});
