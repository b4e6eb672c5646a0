// GitHub App authentication against the FAKE: a JWT signed with the App's private key (the
// PKCS#1 PEM GitHub hands out), checked by the FAKE with the App's public key, buys an
// installation token; the token is cached until shortly before it expires; a JWT signed
// with another key is refused and the delivery kept as failed, with why.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { createNotifications } from '../../shared/notify/index.js';
import { startSystem, type System } from '../helpers/system.js';
import { notifyEnv, startFakeRemotes, type FakeRemotes } from './fake-remotes.js';
import { ideaFromIssue } from './system.js';

let sys: System;
let remotes: FakeRemotes;
const keys = () => generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } });
const app = keys();

function appEnv(privateKey: string): Record<string, string> {
  const env = notifyEnv(remotes, { FACTEUR_GITHUB_APP_ID: '4242', FACTEUR_GITHUB_APP_PRIVATE_KEY: privateKey.replace(/\n/g, '\\n') });
  delete env.FACTEUR_GITHUB_TOKEN;
  delete env.FACTEUR_DISCORD_WEBHOOK_URL;
  return env;
}

beforeAll(async () => {
  remotes = await startFakeRemotes();
  remotes.app = { id: 4242, publicKey: app.publicKey, installationId: 77, tokenTtlS: 3600 };
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.close();
  await remotes?.close();
});

let issue = 700;
const fromIssue = () => ideaFromIssue(sys, 'acme/web', ++issue, 'App auth');
const calls = (re: RegExp) => remotes.seen.filter((s) => re.test(`${s.method} ${s.path}`));

describe('GitHub App authentication', () => {
  it('signs a JWT, gets an installation token and keeps it until shortly before it expires', async () => {
    const notify = createNotifications({ sql: sys.db.sql, config: loadConfig(appEnv(app.privateKey)), log: silentLogger })!;
    await notify.runOnce();
    await fromIssue();
    await fromIssue();
    await notify.runOnce();
    expect(calls(/^GET \/github\/repos\/acme\/web\/installation$/).map((s) => s.status)).toEqual([200]);
    const minted = calls(/^POST \/github\/app\/installations\/77\/access_tokens$/);
    expect(minted.map((s) => s.status)).toEqual([201]);
    expect(minted[0]!.auth).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/i);
    const comments = calls(/^POST \/github\/repos\/acme\/web\/issues\/70\d\/comments$/);
    expect(comments.map((s) => s.status)).toEqual([201, 201]);
    // both with the installation token, never with the JWT
    expect(new Set(comments.map((s) => s.auth)).size).toBe(1);
    expect(comments[0]!.auth).toMatch(/^token ghs_\d+$/);
  });

  it('renews a token that is about to expire', async () => {
    remotes.app!.tokenTtlS = 120; // inside the renewal margin: every send needs a fresh one
    const notify = createNotifications({ sql: sys.db.sql, config: loadConfig(appEnv(app.privateKey)), log: silentLogger })!;
    const before = remotes.seen.length;
    await fromIssue();
    await fromIssue();
    await notify.runOnce();
    const now = remotes.seen.slice(before);
    const posts = now.filter((s) => s.method === 'POST' && /\/issues\/\d+\/comments$/.test(s.path));
    expect(posts).toHaveLength(2);
    // each request took a token of its own: none was kept past the margin
    const requests = now.filter((s) => s.path.startsWith('/github/repos/acme/web/issues/'));
    expect(now.filter((s) => s.path.endsWith('/access_tokens'))).toHaveLength(requests.length);
    expect(new Set(requests.map((s) => s.auth)).size).toBe(requests.length);
    remotes.app!.tokenTtlS = 3600;
  });

  it('a JWT signed with another key is refused; the delivery is kept as failed, with why', async () => {
    const notify = createNotifications({ sql: sys.db.sql, config: loadConfig(appEnv(keys().privateKey)), log: silentLogger })!;
    const { ideaId } = await fromIssue();
    await notify.runOnce();
    expect(calls(new RegExp(`^POST /github/repos/acme/web/issues/${issue}/comments$`))).toHaveLength(0);
    expect(calls(/\/installation$/).at(-1)!.status).toBe(401);
    const [d] = await sys.db.sql`select state, last_error from codex_kb.notify_deliveries where idea_id = ${ideaId}`;
    expect(d!.state).toBe('failed');
    expect(d!.last_error).toMatch(/^auth_failed: authenticating as GitHub App 4242 for acme\/web: GitHub answered 401/);
  });
});
