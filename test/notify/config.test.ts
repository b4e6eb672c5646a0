// The notifiers' configuration: off unless switched on, each credential checked, secrets
// (the token, the App's key, the Discord webhook URL) never printed.
import { generateKeyPairSync } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { ValidationError } from '../../shared/errors/index.js';

const pem = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

describe('notifier configuration', () => {
  it('is off by default, with GitHub.com and the defaults', () => {
    const c = loadConfig({});
    expect(c.notify).toMatchObject({ github: undefined, discord: undefined, dashboardUrl: undefined, retryBaseMs: 2000, retryMaxMs: 900_000, timeoutMs: 10_000 });
    expect(c.unknownKeys).toEqual([]);
  });

  it('switches GitHub on with a token, and Discord on with its webhook', () => {
    const c = loadConfig({ FACTEUR_GITHUB_NOTIFY: 'true', FACTEUR_GITHUB_TOKEN: 'ghp_x', FACTEUR_GITHUB_API_URL: 'https://ghe.example/api/v3/', FACTEUR_DISCORD_WEBHOOK_URL: 'https://discord.com/api/webhooks/1/secret', FACTEUR_DASHBOARD_URL: 'https://facteur.example/' });
    expect(c.notify.github).toMatchObject({ apiUrl: 'https://ghe.example/api/v3', auth: { kind: 'token' }, minIntervalMs: 1000 });
    expect(c.notify.discord).toMatchObject({ minIntervalMs: 500 });
    expect(c.notify.dashboardUrl).toBe('https://facteur.example');
    // a token alone does not switch notifications on
    expect(loadConfig({ FACTEUR_GITHUB_TOKEN: 'ghp_x' }).notify.github).toBeUndefined();
  });

  it('takes a GitHub App: its id and PEM key (newlines as \\n too)', () => {
    const c = loadConfig({ FACTEUR_GITHUB_NOTIFY: 'true', FACTEUR_GITHUB_APP_ID: '4242', FACTEUR_GITHUB_APP_PRIVATE_KEY: pem.replace(/\n/g, '\\n'), FACTEUR_GITHUB_APP_INSTALLATION_ID: '77' });
    expect(c.notify.github?.auth).toMatchObject({ kind: 'app', appId: 4242, installationId: 77 });
    expect(c.notify.github?.auth.kind === 'app' && c.notify.github.auth.privateKey.reveal()).toBe(pem);
  });

  it('lists every bad combination', () => {
    expect(problems({ FACTEUR_GITHUB_NOTIFY: 'true' })).toEqual([expect.stringMatching(/^FACTEUR_GITHUB_NOTIFY: needs FACTEUR_GITHUB_TOKEN/)]);
    expect(problems({ FACTEUR_GITHUB_APP_ID: '1' })).toEqual([expect.stringMatching(/^FACTEUR_GITHUB_APP_PRIVATE_KEY: a GitHub App needs both/)]);
    expect(problems({ FACTEUR_GITHUB_APP_ID: '1', FACTEUR_GITHUB_APP_PRIVATE_KEY: pem, FACTEUR_GITHUB_TOKEN: 't' })).toEqual([expect.stringMatching(/^FACTEUR_GITHUB_TOKEN: set a token or a GitHub App, not both/)]);
    expect(problems({ FACTEUR_GITHUB_APP_INSTALLATION_ID: '3' })).toEqual([expect.stringMatching(/^FACTEUR_GITHUB_APP_INSTALLATION_ID: needs/)]);
    expect(problems({ FACTEUR_GITHUB_APP_PRIVATE_KEY: 'not a key', FACTEUR_GITHUB_APP_ID: '1', FACTEUR_DISCORD_WEBHOOK_URL: 'ftp://x', FACTEUR_DASHBOARD_URL: 'nope', FACTEUR_GITHUB_MIN_INTERVAL_MS: '-1' }).map((p) => p.split(':')[0]).sort()).toEqual([
      'FACTEUR_DASHBOARD_URL', 'FACTEUR_DISCORD_WEBHOOK_URL', 'FACTEUR_GITHUB_APP_PRIVATE_KEY', 'FACTEUR_GITHUB_MIN_INTERVAL_MS',
    ]);
  });

  it('never prints the token, the key or the webhook URL', () => {
    const c = loadConfig({ FACTEUR_GITHUB_NOTIFY: 'true', FACTEUR_GITHUB_TOKEN: 'ghp_supersecret', FACTEUR_DISCORD_WEBHOOK_URL: 'https://discord.com/api/webhooks/1/hooksecret' });
    const a = loadConfig({ FACTEUR_GITHUB_NOTIFY: 'true', FACTEUR_GITHUB_APP_ID: '1', FACTEUR_GITHUB_APP_PRIVATE_KEY: pem });
    for (const text of [JSON.stringify(c), inspect(c, { depth: 10 }), JSON.stringify(a), inspect(a, { depth: 10 })]) {
      expect(text).not.toMatch(/supersecret|hooksecret|PRIVATE KEY/);
    }
  });
});
