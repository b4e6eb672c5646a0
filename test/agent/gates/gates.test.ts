// The gates run for real: fixture repositories in temp dirs, detected with the real adapters
// (or planned by a .facteur/toolchain.yml), their commands run by npm, node, pytest and
// cargo as child processes; plus the runners' summary lines read into counts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTestCounts, runGates, tailOf, displayCommand } from '../../../shared/agent/gates.js';
import { KILL_GRACE_MS } from '../../../shared/agent/process.js';
import { detectToolchains, TOOLCHAIN_FILE, type ToolchainPlan } from '../../../shared/agent/toolchain/index.js';
import { fixtures } from '../toolchain/fixture.js';

const repos = fixtures('gates');
afterAll(() => repos.cleanup());

const nodePackage = (tests: Record<string, string>) =>
  repos.make({
    'package.json': JSON.stringify({ name: 'fixture', version: '1.0.0', type: 'module', scripts: { test: 'node --test' } }),
    ...tests,
  });
const PASSING = `import test from 'node:test';\nimport assert from 'node:assert/strict';\ntest('adds', () => assert.equal(1 + 2, 3));\ntest('concats', () => assert.equal('a' + 'b', 'ab'));\n`;
const FAILING = `import test from 'node:test';\nimport assert from 'node:assert/strict';\ntest('adds', () => assert.equal(1 + 2, 3));\ntest('subtracts', () => assert.equal(3 - 1, 1));\n`;

function alive(pid: number): boolean {
  try {
    // A zombie counts as dead: PID 1 here does not reap orphans.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('runGates on real fixture repositories', () => {
  it('a passing node --test suite: passed, with counts', async () => {
    const dir = nodePackage({ 'test/math.test.js': PASSING });
    const plan = await detectToolchains(dir);
    const ticks: number[] = [];
    const report = await runGates(dir, plan, { onTick: () => ticks.push(1), tickMs: 50 });
    expect(report.toolchain).toBe('node');
    expect(report.passed).toBe(true);
    expect(report.checks).toHaveLength(1);
    const [check] = report.checks;
    expect(check).toMatchObject({ name: 'test', command: 'npm test', cwd: '.', outcome: 'passed', exitCode: 0, timedOut: false, passed: 2, failed: 0, skipped: 0 });
    expect(check!.summary).toBe('passed, 2 passed, 0 failed, exit code 0');
    expect(check!.outputTail).toContain('# pass 2');
    expect(check!.failure).toBeUndefined();
    expect(check!.durationMs).toBeGreaterThan(0);
    expect(ticks.length).toBeGreaterThan(0);
  }, 60_000);

  it('a failing test: failed count 1, report not passed, classified', async () => {
    const dir = nodePackage({ 'test/math.test.js': FAILING });
    const report = await runGates(dir, await detectToolchains(dir));
    expect(report.passed).toBe(false);
    const [check] = report.checks;
    expect(check).toMatchObject({ outcome: 'failed', exitCode: 1, passed: 1, failed: 1 });
    expect(check!.failure?.code).toBe('test_failure');
    expect(check!.failure?.signature).toMatch(/subtracts/);
    expect(check!.summary).toMatch(/^failed \(test_failure\), 1 passed, 1 failed, exit code 1$/);
  }, 60_000);

  it('a hanging command with a grandchild: timed out, the whole group killed within timeout + grace', async () => {
    const dir = repos.make({});
    const pidFile = join(dir, 'grandchild.pid');
    const script = [
      `const g = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });`,
      `require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(g.pid));`,
      `setInterval(() => {}, 1000);`,
    ].join(' ');
    const planned = repos.make({
      [TOOLCHAIN_FILE]: `version: 1\ncommands:\n  - name: test\n    argv: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(script)}]\n    timeoutS: 1\n`,
    });
    const plan = await detectToolchains(planned);
    expect(plan.source).toBe('file');
    const started = Date.now();
    const report = await runGates(planned, plan);
    expect(Date.now() - started).toBeLessThan(1_000 + KILL_GRACE_MS + 1_500);
    const [check] = report.checks;
    expect(check).toMatchObject({ outcome: 'failed', timedOut: true, exitCode: null });
    expect(check!.failure?.code).toBe('timeout');
    expect(check!.summary).toMatch(/timed out after 1 s/);
    expect(report.passed).toBe(false);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid)).toBe(false);
  }, 30_000);

  it("skips a root's later checks after its install failed, and keeps running the other roots", async () => {
    const dir = repos.make({ 'a/': '', 'b/': '' });
    const node = process.execPath;
    const plan: ToolchainPlan = {
      source: 'detected',
      detections: [
        { toolchain: 'node', root: 'a', confidence: 1, evidence: ['package.json'] },
        { toolchain: 'python', root: 'b', confidence: 1, evidence: ['pyproject.toml'] },
      ],
      commands: [
        { name: 'install', argv: [node, '-e', 'console.error("npm ERR! 404 Not Found - GET https://registry.npmjs.org/nope"); process.exit(1)'], cwd: 'a', root: 'a', toolchain: 'node' },
        { name: 'test', argv: [node, '-e', '0'], cwd: 'a', root: 'a', toolchain: 'node' },
        { name: 'test', argv: [node, '-e', 'console.log("1 passed in 0.01s")'], cwd: 'b', root: 'b', toolchain: 'python' },
      ],
    };
    const report = await runGates(dir, plan);
    expect(report.toolchain).toBe('node+python');
    expect(report.checks.map((c) => `${c.name}@${c.cwd}:${c.outcome}`)).toEqual(['install@a:failed', 'test@a:skipped', 'test@b:passed']);
    expect(report.checks[0]!.failure?.code).toBe('missing_dependency');
    expect(report.checks[1]!.summary).toBe('skipped: install failed in a');
    expect(report.checks[2]).toMatchObject({ passed: 1, failed: 0 });
    expect(report.passed).toBe(false);
  }, 30_000);

  it('a failed workspace install at the root skips every member', async () => {
    const dir = repos.make({ 'packages/a/': '' });
    const plan: ToolchainPlan = {
      source: 'detected',
      detections: [{ toolchain: 'node', root: 'packages/a', confidence: 1, evidence: ['package.json', '../../pnpm-lock.yaml'] }],
      commands: [
        { name: 'install', argv: [process.execPath, '-e', 'process.exit(1)'], cwd: '.', root: 'packages/a', toolchain: 'node' },
        { name: 'test', argv: [process.execPath, '-e', '0'], cwd: 'packages/a', root: 'packages/b', toolchain: 'node' },
      ],
    };
    const report = await runGates(dir, plan);
    expect(report.checks.map((c) => c.outcome)).toEqual(['failed', 'skipped']);
  });

  it('runs only the named checks, refuses a cwd outside the repository, reports a missing program', async () => {
    const dir = repos.make({});
    const plan: ToolchainPlan = {
      source: 'file',
      detections: [],
      commands: [
        { name: 'lint', argv: [process.execPath, '-e', 'process.exit(1)'], cwd: '.' },
        { name: 'test', argv: ['facteur-no-such-tool'], cwd: '.' },
        { name: 'e2e', argv: [process.execPath, '-e', '0'], cwd: '../..' },
      ],
    };
    const report = await runGates(dir, plan, { only: ['test', 'e2e'] });
    expect(report.toolchain).toBe('none');
    expect(report.checks.map((c) => c.name)).toEqual(['test', 'e2e']);
    expect(report.checks[0]).toMatchObject({ outcome: 'failed', exitCode: 127, failure: { code: 'command_not_found' } });
    expect(report.checks[1]).toMatchObject({ outcome: 'failed', failure: { code: 'wrong_working_directory' } });
  });

  it('skips what is left once aborted', async () => {
    const dir = repos.make({});
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const plan: ToolchainPlan = {
      source: 'file',
      detections: [],
      commands: [
        { name: 'build', argv: [process.execPath, '-e', 'setInterval(() => {}, 1000)'], cwd: '.' },
        { name: 'test', argv: [process.execPath, '-e', '0'], cwd: '.' },
      ],
    };
    const report = await runGates(dir, plan, { signal: ac.signal });
    expect(report.checks.map((c) => c.outcome)).toEqual(['failed', 'skipped']);
    expect(report.checks[0]!.summary).toMatch(/aborted/);
  });

  it('pytest, really run: counts from its summary line', async () => {
    const dir = repos.make({
      'setup.cfg': '[tool:pytest]\n',
      'tests/test_calc.py': 'import pytest\n\ndef test_a():\n    assert 1 + 1 == 2\n\ndef test_b():\n    assert 2 * 2 == 5\n\n@pytest.mark.skip\ndef test_c():\n    pass\n',
    });
    const plan = await detectToolchains(dir);
    expect(plan.commands.map((c) => c.argv.join(' '))).toEqual(['python3 -m pytest']);
    const report = await runGates(dir, plan, { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTEST_ADDOPTS: '-p no:cacheprovider' } });
    expect(report.checks[0]).toMatchObject({ outcome: 'failed', passed: 1, failed: 1, skipped: 1, failure: { code: 'test_failure' } });
  }, 60_000);

  it('cargo test, really run: counts from "test result"', async () => {
    const dir = repos.make({
      'Cargo.toml': '[package]\nname = "fixture"\nversion = "0.1.0"\nedition = "2021"\n',
      'src/lib.rs': 'pub fn add(a: i32, b: i32) -> i32 { a + b }\n#[cfg(test)]\nmod tests {\n  #[test] fn adds() { assert_eq!(super::add(1, 2), 3); }\n  #[test] fn wrong() { assert_eq!(super::add(1, 2), 4); }\n  #[test] #[ignore] fn later() {}\n}\n',
    });
    const report = await runGates(dir, await detectToolchains(dir), { only: ['test'], env: { ...process.env, CARGO_TARGET_DIR: join(dir, 'target'), CARGO_NET_OFFLINE: 'true' } });
    expect(report.toolchain).toBe('rust');
    expect(report.checks[0]).toMatchObject({ name: 'test', outcome: 'failed', passed: 1, failed: 1, skipped: 1, failure: { code: 'test_failure' } });
  }, 120_000);
});

describe('parseTestCounts', () => {
  it.each<[string, string, { passed: number | null; failed: number | null; skipped: number | null; format: string } | undefined]>([
    ['node TAP inside npm test', '> x@1.0.0 test\n> node --test\n\nok 1 - a\n1..1\n# tests 4\n# suites 0\n# pass 3\n# fail 1\n# cancelled 0\n# skipped 0\n# todo 0\n# duration_ms 40.1\n', { passed: 3, failed: 1, skipped: 0, format: 'node' }],
    ['node spec reporter', '✔ a (0.5ms)\nℹ tests 3\nℹ suites 0\nℹ pass 2\nℹ fail 0\nℹ cancelled 0\nℹ skipped 1\nℹ todo 0\n', { passed: 2, failed: 0, skipped: 1, format: 'node' }],
    ['vitest', ' Test Files  1 failed | 2 passed (3)\n      Tests  3 passed | 1 failed | 2 skipped (6)\n   Start at  10:00:00\n', { passed: 3, failed: 1, skipped: 2, format: 'vitest' }],
    ['vitest, coloured', '\u001b[2m      Tests \u001b[22m \u001b[1m\u001b[32m5 passed\u001b[39m\u001b[22m\u001b[90m (5)\u001b[39m\n', { passed: 5, failed: 0, skipped: 0, format: 'vitest' }],
    ['jest', 'Test Suites: 1 failed, 1 passed, 2 total\nTests:       1 failed, 1 skipped, 3 passed, 5 total\nSnapshots:   0 total\n', { passed: 3, failed: 1, skipped: 1, format: 'jest' }],
    ['pytest', '========== 5 passed, 1 failed, 2 skipped in 0.12s ==========\n', { passed: 5, failed: 1, skipped: 2, format: 'pytest' }],
    ['pytest -q with errors and xfail', '3 passed, 1 error, 1 xfailed, 2 warnings in 1.01s\n', { passed: 3, failed: 1, skipped: 1, format: 'pytest' }],
    ['pytest, nothing collected', '============ no tests ran in 0.01s ============\n', { passed: 0, failed: 0, skipped: 0, format: 'pytest' }],
    ['go test', '--- FAIL: TestAdd (0.00s)\n    calc_test.go:9: bad\n--- FAIL: TestSub (0.00s)\n    --- FAIL: TestSub/neg (0.00s)\nFAIL\nFAIL\texample.com/calc\t0.004s\nok  \texample.com/util\t0.002s\n', { passed: null, failed: 2, skipped: null, format: 'go' }],
    ['go test -v', '=== RUN   TestA\n--- PASS: TestA (0.00s)\n--- SKIP: TestB (0.00s)\nPASS\nok  \texample.com/m\t0.01s\n', { passed: 1, failed: 0, skipped: 1, format: 'go' }],
    ['go test, build failed', '# example.com/m\n./a.go:3:2: undefined: x\nFAIL\texample.com/m [build failed]\n', { passed: null, failed: null, skipped: null, format: 'go' }],
    ['cargo: unit + integration + doc tests add up', 'test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\ntest result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured\n', { passed: 5, failed: 1, skipped: 1, format: 'cargo' }],
    ['maven: the module total, not the class lines too', '[ERROR] Tests run: 5, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 0.041 s <<< FAILURE! -- in com.acme.AppTest\n[INFO] Results:\n[ERROR] Tests run: 5, Failures: 1, Errors: 1, Skipped: 1\n', { passed: 2, failed: 2, skipped: 1, format: 'maven' }],
    ['unknown format', 'All good!\n', undefined],
  ])('%s', (_name, output, expected) => {
    expect(parseTestCounts(output)).toEqual(expected);
  });
});

describe('report helpers', () => {
  it('quotes arguments for display only', () => {
    expect(displayCommand(['npm', 'test', '--', '--grep', "it's fine"])).toBe(`npm test -- --grep 'it'\\''s fine'`);
  });
  it('cuts the tail on a character boundary', () => {
    expect(tailOf('é'.repeat(3000))).toBe('é'.repeat(2048));
    expect(tailOf('short')).toBe('short');
  });
});
