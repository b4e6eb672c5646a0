// `.facteur/toolchain.yml`: it overrides detection, and every mistake in it is reported with
// the path into the file and the line and column where it is.
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors/index.js';
import { detectToolchains, parseToolchainFile, TOOLCHAIN_FILE } from '../../../shared/agent/toolchain/index.js';
import { fixtures } from './fixture.js';

const repos = fixtures('toolchain-file');
afterAll(() => repos.cleanup());

function problems(text: string): readonly { path: string; message: string }[] {
  try {
    parseToolchainFile(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toBe('invalid_toolchain_file');
    return (err as ValidationError).issues;
  }
  throw new Error('expected the file to be refused');
}

describe('.facteur/toolchain.yml', () => {
  it('overrides detection', async () => {
    const dir = repos.make({
      'package.json': '{"scripts":{"test":"node --test"}}',
      'server/': '',
      [TOOLCHAIN_FILE]: [
        'version: 1',
        'toolchain: make',
        'commands:',
        '  - name: build',
        '    argv: [make, all]',
        '    timeoutS: 120',
        '  - name: test',
        '    argv: ["make", "check", "ARGS=$(not a shell)"]',
        '    cwd: server',
        '',
      ].join('\n'),
    });
    const plan = await detectToolchains(dir, { changedPaths: ['package.json'] });
    expect(plan.source).toBe('file');
    expect(plan.detections).toEqual([{ toolchain: 'make', root: '.', confidence: 1, evidence: [TOOLCHAIN_FILE] }]);
    expect(plan.commands).toEqual([
      { name: 'build', argv: ['make', 'all'], cwd: '.', timeoutMs: 120_000, root: '.', toolchain: 'make' },
      { name: 'test', argv: ['make', 'check', 'ARGS=$(not a shell)'], cwd: 'server', root: '.', toolchain: 'make' },
    ]);
  });

  it('lists every problem with its path, line and column', () => {
    const text = [
      'version: 2', //                              line 1
      'toolchain: Node!', //                        line 2
      'colour: blue', //                            line 3
      'commands:', //                               line 4
      '  - name: install', //                       line 5
      '    argv: [npm, ci]', //                     line 6
      '  - name: test', //                          line 7
      '    argv: npm test', //                      line 8
      '    timeout: 30', //                         line 9
      '  - name: lint', //                          line 10
      '    argv: []', //                            line 11
      '    cwd: ../outside', //                     line 12
      '  - name: test', //                          line 13
      '    argv: [x]', //                           line 14
      '    timeoutS: 1.5', //                       line 15
    ].join('\n');
    const issues = problems(text);
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]));
    expect(byPath['version']).toMatch(/must be 1 \(line 1, column 10\)/);
    expect(byPath['toolchain']).toMatch(/label.*\(line 2, column 12\)/);
    expect(byPath['colour']).toMatch(/unknown key "colour" \(line 3, column 1\)/);
    expect(byPath['commands.1.argv']).toMatch(/not a shell string \(line 8, column 11\)/);
    expect(byPath['commands.1.timeout']).toMatch(/unknown key "timeout" \(line 9, column 5\)/);
    expect(byPath['commands.2.argv']).toMatch(/must name a program \(line 11, column 11\)/);
    expect(byPath['commands.2.cwd']).toMatch(/\.\..*\(line 12, column 10\)/);
    expect(byPath['commands.3.name']).toMatch(/duplicate command name "test" \(line 13, column 11\)/);
    expect(byPath['commands.3.timeoutS']).toMatch(/whole seconds \(line 15, column 15\)/);
    expect(issues).toHaveLength(9);
  });

  it('points a missing key at the map that lacks it', () => {
    const issues = problems('version: 1\ncommands:\n  - argv: [a]\n');
    expect(issues).toEqual([{ path: 'commands.0.name', message: expect.stringMatching(/\(line 3, column 5\)$/) }]);
  });

  it('reports YAML syntax errors and duplicate keys with their position', () => {
    const syntax = problems('version: 1\ncommands:\n  - name: [unclosed\n');
    expect(syntax[0]!.message).toMatch(/line \d+, column \d+/);
    const dup = problems('version: 1\nversion: 1\ncommands: []\n');
    expect(dup[0]!.message).toMatch(/unique.*\(line 2, column 1\)/i);
  });

  it('refuses an empty file, a file over 64 KiB and an alias bomb', () => {
    expect(problems('')[0]!.message).toMatch(/line 1, column 1/);
    expect(problems(`version: 1\n# ${'x'.repeat(70_000)}\n`)[0]!.message).toMatch(/larger than 65536 bytes/);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]'].join('\n');
    expect(problems(bomb)[0]!.message).toMatch(/alias/i);
  });

  it('refuses, from the repository, a file naming directories that do not exist', async () => {
    const dir = repos.make({ [TOOLCHAIN_FILE]: 'version: 1\ncommands:\n  - name: test\n    argv: [make]\n    cwd: nowhere\n' });
    const err = await detectToolchains(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toEqual([{ path: 'commands.0.cwd', message: 'directory "nowhere" not found (line 5, column 10)' }]);
    expect((err as ValidationError).message).toContain('commands.0.cwd');
  });

  it('refuses a file of over 64 KiB on disk before reading it', async () => {
    const dir = repos.make({ [TOOLCHAIN_FILE]: `version: 1\n# ${'x'.repeat(70_000)}\n` });
    await expect(detectToolchains(dir)).rejects.toThrow(/larger than 65536/);
  });
});
