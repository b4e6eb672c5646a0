// FACTEUR_API_TOKENS and the Tailscale settings as an operator writes them: hashes only,
// every mistake listed in one start-up line (never echoing what could be a clear token),
// a mounted file, and the README's one-liner printing the hash the config expects.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createIdentifier, tokenHash } from '../../shared/auth/principal.js';
import { loadConfig } from '../../shared/config/index.js';
import { ValidationError } from '../../shared/errors/index.js';
import { startupLine } from '../../shared/local/errors.js';
import { sha } from './callers.js';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected the configuration to be refused');
};

describe('FACTEUR_API_TOKENS', () => {
  it('reads names, hashes, roles and actFor (default false)', () => {
    const c = loadConfig({ FACTEUR_API_TOKENS: JSON.stringify([{ name: 'ci-bot', sha256: sha('t').toUpperCase(), roles: ['viewer'] }]) });
    expect(c.api.tokens).toEqual([{ name: 'ci-bot', sha256: sha('t'), roles: ['viewer'], actFor: false }]);
    expect(c.api.tailscaleIdentity).toBe(false);
  });

  it('lists every problem at once, without repeating a clear token pasted by mistake', () => {
    const list = problems({
      FACTEUR_API_TOKENS: JSON.stringify([
        { name: 'Bad Name', sha256: 'my-clear-secret-token', roles: ['root'], actFor: 'yes' },
        { name: 'a', sha256: sha('x'), roles: [] },
        { name: 'a', sha256: sha('x'), roles: [], extra: 1 },
      ]),
    });
    const text = list.join('\n');
    for (const want of ['0.name', '0.sha256', '0.roles.0', '0.actFor', '2: Unrecognized key']) expect(text).toContain(want);
    expect(text).not.toContain('my-clear-secret-token');
    // duplicates are said once the entries themselves are valid
    const twice = problems({ FACTEUR_API_TOKENS: JSON.stringify([{ name: 'a', sha256: sha('x'), roles: [] }, { name: 'a', sha256: sha('x'), roles: [] }]) }).join('\n');
    expect(twice).toMatch(/1\.name: "a" is named twice/);
    expect(twice).toMatch(/1\.sha256: the same token hash as entry 0/);
    expect(problems({ FACTEUR_API_TOKENS: 'my-clear-secret-token' }).join()).not.toContain('my-clear-secret-token');
    const line = startupLine((() => { try { loadConfig({ FACTEUR_API_TOKENS: '{' }); } catch (e) { return e; } })());
    expect(line).toMatch(/^invalid configuration: FACTEUR_API_TOKENS \(must be a JSON array/);
    expect(line.split('\n')).toHaveLength(1);
  });

  it('reads @/path (a mounted Secret), and says when the file cannot be read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-tokens-'));
    try {
      const file = join(dir, 'tokens.json');
      writeFileSync(file, JSON.stringify([{ name: 'ops', sha256: sha('o'), roles: ['operator'], actFor: true }]));
      expect(loadConfig({ FACTEUR_API_TOKENS: `@${file}` }).api.tokens[0]).toMatchObject({ name: 'ops', actFor: true });
      expect(problems({ FACTEUR_API_TOKENS: `@${join(dir, 'missing.json')}` }).join()).toMatch(/cannot read .*missing\.json: ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps "status" for FACTEUR_STATUS_TOKEN, and Tailscale roles only with the identity switched on', () => {
    expect(problems({ FACTEUR_STATUS_TOKEN: 's', FACTEUR_API_TOKENS: JSON.stringify([{ name: 'status', sha256: sha('x'), roles: [] }]) }).join()).toMatch(/"status" is FACTEUR_STATUS_TOKEN's/);
    expect(problems({ FACTEUR_TAILSCALE_ROLES: '{"a@b":["viewer"]}' }).join()).toMatch(/needs FACTEUR_TAILSCALE_IDENTITY=true/);
    expect(problems({ FACTEUR_TAILSCALE_IDENTITY: 'true', FACTEUR_TAILSCALE_ROLES: '{"a@b":["god"]}' }).join()).toMatch(/FACTEUR_TAILSCALE_ROLES: a@b\.0: must be one of viewer, operator, approver, admin/);
    const c = loadConfig({ FACTEUR_TAILSCALE_IDENTITY: 'true', FACTEUR_TAILSCALE_ROLES: '{"__proto__":["admin"],"a@b":["viewer"]}' });
    expect(Object.keys(c.api.tailscaleRoles)).toContain('a@b');
  });

  it('approver teams and GitHub roles: parsed with every problem listed; teams follow the person whichever way they came', () => {
    expect(problems({ FACTEUR_APPROVER_TEAMS: 'platform=alice' }).join()).toMatch(/FACTEUR_APPROVER_TEAMS.*must be JSON like/);
    expect(problems({ FACTEUR_APPROVER_TEAMS: '{"platform":"alice"}', FACTEUR_GITHUB_ROLES: '{"octocat":["root"]}' }).join()).toMatch(/platform: .*expected array.*FACTEUR_GITHUB_ROLES: octocat\.0: must be one of/s);
    const c = loadConfig({ FACTEUR_APPROVER_TEAMS: '{"platform":["Alice","bob"],"security":["alice"],"__proto__":["x"]}', FACTEUR_GITHUB_ROLES: '{"OctoCat":["approver"]}', FACTEUR_STATUS_TOKEN: 'st' });
    expect(c.github.roles.octocat).toEqual(['approver']);
    const id = createIdentifier(c);
    const req = (headers: Record<string, string>) => ({ method: 'GET', path: '/', query: new URLSearchParams(), headers, body: Buffer.alloc(0) });
    expect(id.identify(req({ authorization: 'Bearer st', 'x-facteur-actor': 'ALICE' }))).toMatchObject({ name: 'ALICE', teams: ['platform', 'security'] });
    expect(id.identify(req({ authorization: 'Bearer st', 'x-facteur-actor': 'carol' })).teams).toBeUndefined();
    // a team named __proto__ is dropped, and pollutes nothing
    expect(id.identify(req({ authorization: 'Bearer st', 'x-facteur-actor': 'x' })).teams).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('the status token is a token named status with every role; nothing configured is open', () => {
    const open = createIdentifier(loadConfig({}));
    expect(open.mode).toBe('open');
    const req = (headers: Record<string, string>) => ({ method: 'GET', path: '/', query: new URLSearchParams(), headers, body: Buffer.alloc(0) });
    expect(open.identify(req({}))).toMatchObject({ via: 'open', roles: ['viewer', 'operator', 'approver', 'admin'], actor: 'open' });
    expect(open.identify(req({ 'x-facteur-actor': 'bob' }))).toMatchObject({ name: 'bob', actor: 'bob via open' });
    const legacy = createIdentifier(loadConfig({ FACTEUR_STATUS_TOKEN: 'legacy' }));
    expect(legacy.identify(req({ authorization: 'Bearer legacy' }))).toMatchObject({ via: 'token', name: 'token:status', roles: ['viewer', 'operator', 'approver', 'admin'], actor: 'token:status' });
    expect(legacy.identify(req({ authorization: 'Bearer legacy', 'x-facteur-actor': 'alice' }))).toMatchObject({ name: 'alice', actor: 'alice via token:status' });
  });

  it("the README's one-liner prints the hash FACTEUR_API_TOKENS expects", () => {
    const oneLiner = "process.stdout.write(require('node:crypto').createHash('sha256').update(process.argv[1]).digest('hex'))";
    const printed = execFileSync(process.execPath, ['-e', oneLiner, 'my token ✓'], { encoding: 'utf8' });
    expect(printed).toBe(tokenHash('my token ✓'));
    expect(printed).toBe(sha('my token ✓'));
  });
});
