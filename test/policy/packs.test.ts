// Policy packs: the YAML document (every problem with its line), the effective policy
// (central → repository → repo-local, loosening refused unless overridable, the hash), and
// the store (versions never rewritten, activation, the mounted directory, repositories).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors/index.js';
import { resolveEffective, hashOf, tightens } from '../../shared/policy/effective.js';
import { PACK_CAP_BYTES, parsePack, parseRepoLocal } from '../../shared/policy/pack.js';
import { activatePack, effectivePolicyFor, getRepositoryPolicy, listPacks, loadPack, loadPolicyPacks, putPack, putRepositoryPolicy } from '../../shared/policy/store.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

const PACK = `schemaVersion: 1
key: payments
version: 2
description: payments team
overridable: [rules.churn.maxLinesPerTask]
rules:
  churn:
    mode: enforce
    maxLinesPerTask: 400
    maxLinesPerIdea: 2000
  pathScope:
    mode: warn
    allow: ["docs/**"]
  highRisk:
    mode: enforce
    labels: [security]
    sensitivePaths: ["migrations/**"]
approvals:
  required: 2
  eligible: { logins: [alice, bob, carol] }
`;

const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a ValidationError');
};

describe('a pack document', () => {
  it('is read with its defaults filled in', () => {
    const p = parsePack(PACK);
    expect(p).toMatchObject({ key: 'payments', version: 2, strict: false, approvals: { required: 2, eligible: { logins: ['alice', 'bob', 'carol'], roles: ['approver', 'admin'] }, onExpiry: 'block' } });
    expect(p.rules.churn).toEqual({ mode: 'enforce', severity: 'medium', maxLinesPerTask: 400, maxLinesPerIdea: 2000 });
    expect(p.rules.freeze).toBeUndefined(); // left out: off
  });

  it('lists every problem with its line and column, in the file order', () => {
    const bad = `schemaVersion: 2
key: Payments_Team
version: 1.5
rules:
  churn: { mode: block, maxLinesPerTask: -1 }
  lunch: { mode: warn }
  requiredChecks:
    paths:
      - { glob: "src/[a", checks: [test] }
  freeze:
    windows:
      - { weekly: { days: [fri], from: "16:00", to: "24:00" }, timeZone: Europe/Atlantis }
      - { start: "2026-12-27T00:00:00Z", end: "2026-12-24T00:00:00Z" }
overridable: [rules.churn.nothing]
`;
    expect(issuesOf(() => parsePack(bad))).toEqual([
      'schemaVersion: must be 1 (line 1, column 16)',
      'key: must be lowercase letters, digits and dashes (at most 63) (line 2, column 6)',
      'version: must be a whole number (line 3, column 10)',
      'rules.churn.mode: Invalid option: expected one of "off"|"evaluate"|"warn"|"enforce" (line 5, column 18)',
      'rules.churn.maxLinesPerTask: Too small: expected number to be >=0 (line 5, column 42)',
      'rules.lunch: unknown key "lunch" (line 6, column 3)',
      'rules.requiredChecks.paths.0.glob: does not compile: Missing closing: "]" - use "\\\\]" to match literal characters (line 9, column 17)',
      'rules.freeze.windows.0.weekly.to: must be HH:MM (24 h) (line 12, column 53)',
      'rules.freeze.windows.0.timeZone: unknown time zone "Europe/Atlantis" (line 12, column 74)',
      'rules.freeze.windows.1.end: must end after it starts (line 13, column 47)',
      'overridable.0: names no field of a pack: "rules.churn.nothing" (line 14, column 15)',
    ]);
  });

  it('refuses YAML that does not parse, a document past the cap, and an alias bomb', () => {
    expect(issuesOf(() => parsePack('key: [payments\nversion: 1\n'))[0]).toMatch(/\(line \d+, column \d+\)$/);
    expect(issuesOf(() => parsePack(`# ${'x'.repeat(PACK_CAP_BYTES)}\n`))).toEqual([`: is larger than ${PACK_CAP_BYTES} bytes`]);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${'bcdefghi'[i]}: &${'bcdefghi'[i]} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`)].join('\n');
    expect(issuesOf(() => parsePack(bomb)).join()).toMatch(/alias/i);
  });
});

describe('the effective policy', () => {
  const pack = parsePack(PACK);
  const base = { pack, packHash: hashOf(pack) };

  it('is the pack alone when nothing else applies, with a stable hash', () => {
    const e = resolveEffective(base);
    expect(e.chain).toEqual([{ source: 'pack', ref: 'payments@2', hash: hashOf(pack) }]);
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
    // the same document written in another key order: the same policy
    const reordered = parsePack(PACK.split('\n').filter((l) => l.startsWith('description')).concat(PACK.split('\n').filter((l) => !l.startsWith('description'))).join('\n'));
    expect(resolveEffective({ pack: reordered, packHash: hashOf(reordered) }).hash).toBe(e.hash);
    // any rule changed: another policy
    const other = parsePack(PACK.replace('maxLinesPerIdea: 2000', 'maxLinesPerIdea: 2001'));
    expect(resolveEffective({ pack: other, packHash: hashOf(other) }).hash).not.toBe(e.hash);
  });

  it('applies the repository overrides (an admin may loosen), then the repo-local file (tighten only)', () => {
    const local = parseRepoLocal(`schemaVersion: 1
strict: true
rules:
  churn: { maxLinesPerTask: 800, maxLinesPerIdea: 100 }
  pathScope: { allow: ["docs/**", "**"] }
  highRisk: { labels: [security, payments], mode: warn }
  freeze: { mode: enforce, windows: [{ weekly: { days: [fri], from: "16:00", to: "23:59" }, timeZone: Europe/Paris }] }
approvals: { required: 1 }
`);
    const e = resolveEffective({ ...base, repository: { name: 'acme/pay', overrides: { rules: { churn: { maxLinesPerIdea: 5000 } } } }, repoLocal: local });
    const d = e.document;
    expect(d.strict).toBe(true); // tightened
    expect(d.rules.churn).toMatchObject({ maxLinesPerTask: 800, maxLinesPerIdea: 100 }); // 800: overridable; 100: tighter than the override's 5000
    expect(d.rules.pathScope!.allow).toEqual(['docs/**']); // widening the allow-list is loosening
    expect(d.rules.highRisk).toMatchObject({ labels: ['security', 'payments'], mode: 'enforce' });
    expect(d.rules.freeze).toMatchObject({ mode: 'enforce', stages: ['deploy'] }); // a rule the pack left off, switched on
    expect(d.approvals.required).toBe(2);
    const [, repo, rl] = e.chain;
    expect(repo).toMatchObject({ source: 'repository', ref: 'acme/pay' });
    expect(rl!.applied).toEqual(['strict', 'rules.highRisk.labels', 'rules.churn.maxLinesPerTask', 'rules.churn.maxLinesPerIdea', 'rules.freeze.mode', 'rules.freeze.windows']);
    expect(rl!.refused!.map((r) => r.path)).toEqual(['rules.highRisk.mode', 'rules.pathScope.allow', 'approvals.required']);
    expect(rl!.refused![1]!.reason).toMatch(/loosens \["docs\/\*\*"\] to \["docs\/\*\*","\*\*"\]/);
  });

  it('gives the repo-local file no say over who approves', () => {
    expect(issuesOf(() => parseRepoLocal('schemaVersion: 1\napprovals:\n  eligible: { logins: [mallory] }\n'))).toEqual(['approvals.eligible: unknown key "eligible" (line 3, column 3)']);
  });

  it.each([
    ['rules.churn.mode', 'warn', 'enforce', true], ['rules.churn.mode', 'enforce', 'evaluate', false],
    ['rules.autonomy.maxLevel', 'L3', 'L1', true], ['rules.autonomy.maxLevel', 'L1', 'L2', false],
    ['rules.churn.maxLinesPerTask', undefined, 10, true], ['rules.churn.maxLinesPerTask', 10, 11, false],
    ['rules.highRisk.labels', ['a'], ['a', 'b'], true], ['rules.highRisk.labels', ['a', 'b'], ['b'], false],
    ['rules.pathScope.allow', ['a/**'], [], true], ['rules.pathScope.allow', [], ['a/**'], false],
    ['strict', false, true, true], ['strict', true, false, false],
    ['approvals.required', 1, 3, true], ['approvals.required', 3, 2, false],
    ['rules.budgets.warnAt', 0.8, 0.5, true], ['rules.budgets.estimates.deploy.costUsd', 1, 0.5, false],
    ['approvals.onExpiry', 'reask', 'block', true], ['rules.changeBudget.afterRegression', 'approval', 'none', false],
  ] as const)('%s: %j → %j tightens: %s', (path, before, after, want) => {
    expect(tightens(path, before, after)).toBe(want);
  });
});

describe('the store', () => {
  let db: TestDb;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDb();
    dir = mkdtempSync(join(tmpdir(), 'facteur-packs-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('seeds default@1 active, loads the directory, activates its highest versions, and is idempotent', async () => {
    writeFileSync(join(dir, 'payments-2.yaml'), PACK);
    writeFileSync(join(dir, 'payments-1.yml'), PACK.replace('version: 2', 'version: 1'));
    writeFileSync(join(dir, 'README.txt'), 'not a pack');
    writeFileSync(join(dir, '..data'), 'a ConfigMap entry');
    await loadPolicyPacks(db.sql, dir);
    await loadPolicyPacks(db.sql, dir);
    const packs = await listPacks(db.sql);
    expect(packs.map((p) => `${p.key}@${p.version}:${p.status}:${p.origin}`)).toEqual(['default@1:active:seed', 'payments@2:active:directory', 'payments@1:draft:directory']);
    const audit = await db.sql`select action, subject_id from codex_kb.audit_log where action like 'policy.%' order by id`;
    expect(audit.map((a) => `${a.action} ${a.subject_id}`)).toEqual([
      'policy.pack_stored default@1', 'policy.pack_activated default@1', 'policy.pack_stored payments@1', 'policy.pack_stored payments@2', 'policy.pack_activated payments@2',
    ]);
  });

  it('never rewrites a version, and a bad file in the directory stops the load with its problems', async () => {
    const err = await putPack(db.sql, PACK.replace('maxLinesPerIdea: 2000', 'maxLinesPerIdea: 1'), 'api', 'admin').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'policy_pack_exists', message: expect.stringContaining('store it as version 3') });
    await expect(db.sql`update codex_kb.policy_packs set document = '{}' where key = 'payments'`).rejects.toThrow(/immutable/);
    const bad = mkdtempSync(join(tmpdir(), 'facteur-packs-bad-'));
    writeFileSync(join(bad, 'x.yaml'), 'schemaVersion: 1\nkey: x\nversion: 1\nrules: { nope: {} }\n');
    await expect(loadPolicyPacks(db.sql, bad)).rejects.toThrow(/x\.yaml: the policy pack is invalid: rules\.nope: unknown key "nope" \(line 4, column 10\)/);
    rmSync(bad, { recursive: true });
  });

  it('activating a version retires the one active before; a draft is never selected', async () => {
    await expect(loadPack(db.sql, 'payments', 1)).rejects.toThrow(/draft is never selected/);
    await activatePack(db.sql, 'payments', 1, 'admin');
    expect((await loadPack(db.sql, 'payments', null)).pack.version).toBe(1);
    expect((await listPacks(db.sql)).filter((p) => p.key === 'payments').map((p) => p.status)).toEqual(['retired', 'active']);
    await activatePack(db.sql, 'payments', 2, 'admin');
  });

  it('selects a pack per repository, checks the overrides, and keeps each effective policy once by hash', async () => {
    expect(await getRepositoryPolicy(db.sql, 'Acme/Pay')).toMatchObject({ repository: 'acme/pay', pack: { key: 'default', version: null }, repoLocal: false });
    const bad = await putRepositoryPolicy(db.sql, 'acme/pay', { pack: { key: 'payments', version: null }, overrides: { rules: { churn: { maxLinesPerTask: 'many' } }, extra: 1 }, repoLocal: true }, 'admin').catch((e: unknown) => e);
    expect((bad as ValidationError).issues.map((i) => i.path).sort()).toEqual(['overrides', 'overrides.rules.churn.maxLinesPerTask']);
    await expect(putRepositoryPolicy(db.sql, 'acme/pay', { pack: { key: 'nope', version: null }, overrides: {}, repoLocal: false }, 'admin')).rejects.toThrow(/no active version of policy pack nope/);
    await putRepositoryPolicy(db.sql, 'acme/pay', { pack: { key: 'payments', version: null }, overrides: { rules: { churn: { maxLinesPerIdea: 5000 } } }, repoLocal: true }, 'admin');
    const local = parseRepoLocal('schemaVersion: 1\nrules: { churn: { maxLinesPerTask: 100 } }\n');
    const e1 = await effectivePolicyFor(db.sql, 'acme/pay', local);
    const e2 = await effectivePolicyFor(db.sql, 'ACME/pay', local);
    expect(e2.hash).toBe(e1.hash);
    expect(e1.document.rules.churn).toMatchObject({ maxLinesPerTask: 100, maxLinesPerIdea: 5000 });
    expect(e1.chain.map((c) => c.source)).toEqual(['pack', 'repository', 'repo-local']);
    const rows = await db.sql`select hash, chain from codex_kb.effective_policies where hash = ${e1.hash}`;
    expect(rows).toHaveLength(1);
    // a repository that does not honour its own file ignores it
    await putRepositoryPolicy(db.sql, 'acme/pay', { pack: { key: 'payments', version: 2 }, overrides: {}, repoLocal: false }, 'admin');
    expect((await effectivePolicyFor(db.sql, 'acme/pay', local)).chain.map((c) => c.source)).toEqual(['pack']);
  });
});
