// Failure classification over what the ecosystems really print (copied from real runs of
// npm, node, tsc, pytest, go, cargo and maven, and a few produced live by node, tsc and
// pytest here), signature normalization, and scope checks on changed paths.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyFailure, normalizeSignature, scopeViolations, type FailureCode, type FailureInput } from '../../../shared/agent/failures.js';
import { runCommand } from '../../../shared/agent/process.js';

const NPM_MISSING_SCRIPT_DEP = `
> app@1.0.0 test
> vitest run

sh: 1: vitest: not found
npm ERR! Lifecycle script \`test\` failed with error:
npm ERR! Error: command failed`;

const NODE_CJS = `node:internal/modules/cjs/loader:1210
  throw err;
  ^

Error: Cannot find module 'left-pad'
Require stack:
- /home/runner/work/app/src/index.js
    at Module._resolveFilename (node:internal/modules/cjs/loader:1207:15)`;

const NPM_E403 = `npm ERR! code E403
npm ERR! 403 403 Forbidden - GET https://npm.pkg.github.com/@acme%2fcore - Permission permission_denied: read_package
npm ERR! A complete log of this run can be found in: /root/.npm/_logs/2024-05-01T10_11_12_123Z-debug-0.log`;

const NPM_ENOENT = `npm ERR! code ENOENT
npm ERR! syscall open
npm ERR! path /workspace/repo/package.json
npm ERR! errno -2
npm ERR! enoent ENOENT: no such file or directory, open '/workspace/repo/package.json'`;

const TSC = `src/server.ts(12,5): error TS2304: Cannot find name 'Reqest'.
src/server.ts(20,1): error TS1005: ';' expected.`;

const TSC_MODULE = `src/index.ts(1,22): error TS2307: Cannot find module 'zod' or its corresponding type declarations.`;

const PYTEST_FAIL = `============================= test session starts ==============================
collected 6 items

tests/test_calc.py ..F...                                                [100%]

=================================== FAILURES ===================================
___________________________________ test_add ___________________________________

    def test_add():
>       assert add(1, 2) == 4
E       assert 3 == 4

tests/test_calc.py:7: AssertionError
=========================== short test summary info ============================
FAILED tests/test_calc.py::test_add - assert 3 == 4
========================= 1 failed, 5 passed in 0.12s ==========================`;

const PYTEST_MISSING = `_______________________ ERROR collecting tests/test_a.py _______________________
ImportError while importing test module '/tmp/pytest-of-root/pytest-3/test_a.py'.
E   ModuleNotFoundError: No module named 'requests'
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
=============================== 1 error in 0.05s ===============================`;

const PYTEST_NONE = `============================= test session starts ==============================
collected 0 items

============================ no tests ran in 0.01s =============================`;

const GO_TEST = `--- FAIL: TestAdd (0.00s)
    calc_test.go:9: Add(1, 2) = 3, want 4
FAIL
FAIL	example.com/calc	0.004s
ok  	example.com/calc/util	0.002s
FAIL`;

const GO_MISSING = `main.go:5:2: no required module provides package github.com/google/uuid; to add it:
	go get github.com/google/uuid`;

const GO_BUILD = `# example.com/calc
./calc.go:7:9: undefined: sum
FAIL	example.com/calc [build failed]`;

const GO_NO_TESTS = `testing: warning: no tests to run
PASS
ok  	example.com/calc	0.002s [no tests to run]`;

const CARGO_IMPORT = `   Compiling cr v0.1.0 (/tmp/fx/cr)
error[E0432]: unresolved import \`serde\`
 --> src/main.rs:1:5
  |
1 | use serde::Serialize;
  |     ^^^^^ use of unresolved module or unlinked crate \`serde\``;

const CARGO_COMPILE = `   Compiling cr v0.1.0 (/build/cr)
error[E0308]: mismatched types
 --> src/main.rs:2:26
  |
2 | fn main() { let x: i32 = "a"; }
  |                    ---   ^^^ expected \`i32\`, found \`&str\`
error: could not compile \`cr\` (bin "cr") due to 1 previous error`;

const CARGO_TEST = `running 1 test
test t ... FAILED

failures:

---- t stdout ----
thread 't' panicked at src/main.rs:3:7:
assertion \`left == right\` failed
  left: 1
 right: 2

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.09s

error: test failed, to rerun pass \`--bin cr\``;

const MVN_COMPILE = `[INFO] --- compiler:3.11.0:compile (default-compile) @ app ---
[ERROR] COMPILATION ERROR :
[ERROR] /home/ci/app/src/main/java/com/acme/App.java:[14,9] cannot find symbol
  symbol:   variable logger
[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.11.0:compile (default-compile) on project app: Compilation failure`;

const MVN_TEST = `[ERROR] Tests run: 5, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 0.041 s <<< FAILURE! -- in com.acme.AppTest
[ERROR] com.acme.AppTest.adds -- Time elapsed: 0.005 s <<< FAILURE!
org.opentest4j.AssertionFailedError: expected: <4> but was: <3>
[ERROR] Tests run: 5, Failures: 1, Errors: 0, Skipped: 0`;

const MVN_DEP = `[ERROR] Failed to execute goal on project app: Could not resolve dependencies for project com.acme:app:jar:1.0: Could not find artifact com.acme:core:jar:2.1 in central (https://repo.maven.apache.org/maven2)`;

const GIT_CONFLICT = `Auto-merging src/app.ts
CONFLICT (content): Merge conflict in src/app.ts
Automatic merge failed; fix conflicts and then commit the result.`;

const GIT_AUTH = `remote: Invalid username or password.
fatal: Authentication failed for 'https://github.com/acme/app.git/'`;

const SSH_AUTH = `git@github.com: Permission denied (publickey).
fatal: Could not read from remote repository.`;

const ESLINT = `/repo/src/a.ts
  3:7  error  'x' is assigned a value but never used  @typescript-eslint/no-unused-vars

✖ 1 problem (1 error, 0 warnings)`;

const VITEST_NONE = `No test files found, exiting with code 1`;

const NODE_TEST = `not ok 2 - subtracts
  ---
  duration_ms: 0.61
  ...
# tests 2
# pass 1
# fail 1`;

describe('classifyFailure', () => {
  it.each<[string, FailureInput, FailureCode]>([
    ['npm: a script tool not installed', { check: 'test', output: NPM_MISSING_SCRIPT_DEP, exitCode: 127 }, 'command_not_found'],
    ['node: Cannot find module', { check: 'test', output: NODE_CJS, exitCode: 1 }, 'missing_dependency'],
    ['npm: 403 from the registry', { check: 'install', output: NPM_E403, exitCode: 1 }, 'auth_failed'],
    ['npm: no package.json here', { check: 'install', output: NPM_ENOENT, exitCode: 254 }, 'wrong_working_directory'],
    ['tsc: error TS2304', { check: 'build', output: TSC, exitCode: 2 }, 'compile_error'],
    ['tsc: TS2307 for a package', { check: 'build', output: TSC_MODULE, exitCode: 2 }, 'missing_dependency'],
    ['pytest: a failing test', { check: 'test', output: PYTEST_FAIL, exitCode: 1 }, 'test_failure'],
    ['pytest: ModuleNotFoundError', { check: 'test', output: PYTEST_MISSING, exitCode: 2 }, 'missing_dependency'],
    ['pytest: no tests ran', { check: 'test', output: PYTEST_NONE, exitCode: 5 }, 'no_tests_found'],
    ['go: --- FAIL', { check: 'test', output: GO_TEST, exitCode: 1 }, 'test_failure'],
    ['go: no required module', { check: 'build', output: GO_MISSING, exitCode: 1 }, 'missing_dependency'],
    ['go: build failed', { check: 'test', output: GO_BUILD, exitCode: 1 }, 'compile_error'],
    ['go: no tests to run', { check: 'test', output: GO_NO_TESTS, exitCode: 1 }, 'no_tests_found'],
    ['cargo: E0432 unresolved import', { check: 'build', output: CARGO_IMPORT, exitCode: 101 }, 'missing_dependency'],
    ['cargo: mismatched types', { check: 'build', output: CARGO_COMPILE, exitCode: 101 }, 'compile_error'],
    ['cargo: test result FAILED', { check: 'test', output: CARGO_TEST, exitCode: 101 }, 'test_failure'],
    ['cargo clippy as the lint check', { check: 'lint', output: CARGO_COMPILE, exitCode: 101 }, 'lint_failure'],
    ['mvn: cannot find symbol', { check: 'build', output: MVN_COMPILE, exitCode: 1 }, 'compile_error'],
    ['mvn: surefire failures', { check: 'test', output: MVN_TEST, exitCode: 1 }, 'test_failure'],
    ['mvn: could not resolve dependencies', { check: 'build', output: MVN_DEP, exitCode: 1 }, 'missing_dependency'],
    ['git: merge conflict', { check: 'git', output: GIT_CONFLICT, exitCode: 1 }, 'git_conflict'],
    ['git: https auth', { check: 'git', output: GIT_AUTH, exitCode: 128 }, 'auth_failed'],
    ['git: ssh auth', { check: 'git', output: SSH_AUTH, exitCode: 128 }, 'auth_failed'],
    ['eslint', { check: 'lint', output: ESLINT, exitCode: 1 }, 'lint_failure'],
    ['vitest: no test files', { check: 'test', output: VITEST_NONE, exitCode: 1 }, 'no_tests_found'],
    ['node --test: not ok', { check: 'test', output: NODE_TEST, exitCode: 1 }, 'test_failure'],
    ['runCommand: not found', { check: 'build', output: 'facteur: command not found: mvn\n', exitCode: 127 }, 'command_not_found'],
    ['a timeout wins over the output', { check: 'test', output: GO_TEST, exitCode: null, timedOut: true }, 'timeout'],
    ['scope check', { check: 'scope', output: 'outside: docs/x.md' }, 'scope_violation'],
    ['agent crash', { check: 'agent', output: 'panic: runtime error: index out of range [3] with length 3' }, 'agent_error'],
    ['agent refused credentials', { check: 'agent', output: 'Error: 401 Unauthorized: invalid x-api-key' }, 'auth_failed'],
    ['nothing recognisable', { output: 'something odd happened', exitCode: 3 }, 'unknown'],
  ])('%s', (_name, input, code) => {
    const f = classifyFailure(input);
    expect(f.code).toBe(code);
    expect(f.signature.length).toBeGreaterThan(0);
    expect(f.signature.length).toBeLessThanOrEqual(240);
  });

  it('hints at installing again for a missing dependency, retrying a timeout, nothing for auth', () => {
    expect(classifyFailure({ check: 'test', output: NODE_CJS, exitCode: 1 }).hint?.action).toBe('retry_install');
    expect(classifyFailure({ output: '', timedOut: true }).hint?.action).toBe('retry');
    expect(classifyFailure({ output: GIT_AUTH }).hint?.action).toBe('none');
  });

  it('takes the signature from the line that decided the code', () => {
    expect(classifyFailure({ check: 'test', output: NODE_CJS, exitCode: 1 }).signature).toBe("Error: Cannot find module 'left-pad'");
    expect(classifyFailure({ check: 'build', output: TSC }).signature).toBe("<path>(<n>,<n>): error TS2304: Cannot find name 'Reqest'.");
    expect(classifyFailure({ check: 'test', output: GO_TEST }).signature).toBe('--- FAIL: TestAdd (<dur>)');
    expect(classifyFailure({ check: 'build', output: MVN_COMPILE }).signature).toBe('[ERROR] COMPILATION ERROR :');
  });
});

describe('normalizeSignature', () => {
  it.each([
    [
      "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'lodash' imported from /tmp/facteur-ws-81fa2c/src/a.mjs",
      "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'lodash' imported from /home/runner/work/app/src/a.mjs",
    ],
    ['./calc.go:7:9: undefined: sum', './calc.go:12:3: undefined: sum'],
    ['error at 2024-05-01T10:11:12.345Z run 3f2a9c1e-8b7d-4c6e-9a1b-2d3e4f5a6b7c commit 9fceb02d0ae598e95dc970b74767f19372d61af8', 'error at 2025-01-09T00:00:01Z run 00000000-1111-4222-8333-444444444444 commit 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b'],
    ['FAIL\texample.com/calc\t0.004s', 'FAIL\texample.com/calc\t1.250s'],
    ['\u001b[31mError: boom at C:\\Users\\ci\\AppData\\Local\\Temp\\x\\a.js:3\u001b[39m', 'Error: boom at C:\\build\\a.js:77'],
    ['panic: runtime error: index out of range [5] with length 3 goroutine 1 [running]: pointer 0xc000012345', 'panic: runtime error: index out of range [9] with length 2 goroutine 7 [running]: pointer 0xc0000abcde'],
  ])('%s ≡ %s', (a, b) => {
    expect(normalizeSignature(a)).toBe(normalizeSignature(b));
  });

  it('keeps what tells failures apart: the message, package and module names', () => {
    expect(normalizeSignature("Cannot find module 'lodash'")).not.toBe(normalizeSignature("Cannot find module 'express'"));
    expect(normalizeSignature('FAIL example.com/calc 0.1s')).toContain('example.com/calc');
    expect(normalizeSignature('error TS2304: x')).toContain('TS2304');
    expect(normalizeSignature('npm ERR! 404 Not Found - GET https://registry.npmjs.org/left-padx')).toContain('registry.npmjs.org/left-padx');
  });

  it('skips stack frames and source excerpts for the first real error line', () => {
    expect(normalizeSignature(NODE_CJS)).toBe("Error: Cannot find module 'left-pad'");
    expect(normalizeSignature(PYTEST_MISSING)).toBe("E ModuleNotFoundError: No module named 'requests'");
    expect(normalizeSignature(CARGO_TEST)).toBe('test t ... FAILED');
  });
});

describe('classifyFailure on live output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'facteur-failures-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const tsc = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));

  it('node ESM, tsc and pytest failures, with signatures equal across two directories', async () => {
    const signatures: Record<string, string[]> = {};
    for (const name of ['one', 'two']) {
      const d = join(dir, name);
      mkdirSync(join(d, 'tests'), { recursive: true });
      writeFileSync(join(d, 'a.mjs'), 'import x from "facteur-no-such-pkg";\nconsole.log(x);\n');
      writeFileSync(join(d, 'b.ts'), `const a: Foo = ${name.length};\n`);
      writeFileSync(join(d, 'tests', 'test_a.py'), 'import facteur_no_such_module\n');
      const runs = {
        node: await runCommand([process.execPath, 'a.mjs'], { cwd: d, timeoutMs: 20_000 }),
        tsc: await runCommand([process.execPath, tsc, '--noEmit', 'b.ts'], { cwd: d, timeoutMs: 30_000 }),
        pytest: await runCommand(['python3', '-m', 'pytest', '-p', 'no:cacheprovider'], { cwd: d, timeoutMs: 30_000 }),
      };
      const codes = Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, classifyFailure({ check: k === 'tsc' ? 'build' : 'test', output: r.output, exitCode: r.exitCode }).code]));
      expect(codes).toEqual({ node: 'missing_dependency', tsc: 'compile_error', pytest: 'missing_dependency' });
      for (const [k, r] of Object.entries(runs)) (signatures[k] ??= []).push(classifyFailure({ check: 'test', output: r.output, exitCode: r.exitCode }).signature);
    }
    for (const [k, [a, b]] of Object.entries(signatures)) expect(a, k).toBe(b);
  }, 60_000);
});

describe('scopeViolations', () => {
  it.each<[string[], string[], string[]]>([
    [['src/a.ts', 'docs/x.md'], [], []],
    [['shared/agent/gates.ts', 'shared/agent/toolchain/node.ts', 'shared/db/index.ts'], ['shared/agent'], ['shared/db/index.ts']],
    [['shared/agentx/a.ts'], ['shared/agent/'], ['shared/agentx/a.ts']],
    [['test/agent/gates/a.test.ts', 'test/agent/b.ts'], ['test/agent/**/*.test.ts'], ['test/agent/b.ts']],
    [['test/agent/a.test.ts'], ['test/agent/**/*.test.ts'], []],
    [['README.md', 'docs/README.md'], ['*.md'], ['docs/README.md']],
    [['src/x/y.ts'], ['src/*'], []],
    [['./src/a.ts'], ['src'], []],
    [['../outside.txt', '/etc/passwd', 'src/../../x'], ['**'], ['../outside.txt', '/etc/passwd', 'src/../../x']],
    [['a.txt'], ['a?txt'], []],
    [['a(1).txt'], ['a(1).txt'], []],
  ])('%j within %j → %j', (changed, allowed, outside) => {
    expect(scopeViolations(changed, allowed)).toEqual(outside);
  });
});
