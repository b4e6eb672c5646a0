// ensureSampleRepo (shared/local/sample-repo.ts): local mode's "origin", made once by
// whoever gets there first (in one process or in several at the same instant), always the
// same commit, and a package whose tests pass in a fresh clone.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NonRetriableError } from '../../../shared/errors/index.js';
import { ensureSampleRepo, sampleRepoPath } from '../../../shared/local/sample-repo.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'facteur-sample-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const git = (args: string[], cwd?: string) => execFileSync('git', args, { encoding: 'utf8', ...(cwd ? { cwd } : {}) }).trim();

describe('ensureSampleRepo', () => {
  it('makes the repository once when two calls race, with one commit on main', async () => {
    const d = tempDir();
    const results = await Promise.all([ensureSampleRepo(d), ensureSampleRepo(d)]);
    expect(results.map((r) => r.created).sort()).toEqual([false, true]);
    expect(results[0]!.bare).toBe(join(d, 'repos', 'sample.git'));
    expect(readdirSync(join(d, 'repos'))).toEqual(['sample.git']); // no temp left behind
    expect(git(['--git-dir', results[0]!.bare, 'rev-list', '--count', 'main'])).toBe('1');
    expect(git(['--git-dir', results[0]!.bare, 'symbolic-ref', 'HEAD'])).toBe('refs/heads/main');
    expect(git(['--git-dir', results[0]!.bare, 'log', '--format=%an <%ae> %aI', 'main'])).toBe('Facteur <facteur@example.invalid> 2024-01-01T00:00:00+00:00');
    expect((await ensureSampleRepo(d)).created).toBe(false);
  });

  it('makes it once when two processes race at the same instant', async () => {
    const d = tempDir();
    const at = Date.now() + 4000; // time for both to load
    const outputs = await Promise.all([0, 1].map(() => new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', 'test/agent/core/fixtures/sample-maker.ts', d, String(at)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout!.on('data', (c) => (out += c));
      p.stderr!.on('data', (c) => (err += c));
      p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`contender exited ${code}: ${err}`))));
    })));
    expect(outputs.sort()).toEqual(['created', 'existing']);
    expect(readdirSync(join(d, 'repos'))).toEqual(['sample.git']);
    expect(git(['--git-dir', sampleRepoPath(d), 'rev-list', '--count', 'main'])).toBe('1');
  });

  it('makes the same commit on every machine, and a package whose tests pass in a clone', async () => {
    const [a, b] = [tempDir(), tempDir()];
    await ensureSampleRepo(a);
    await ensureSampleRepo(b);
    const head = git(['--git-dir', sampleRepoPath(a), 'rev-parse', 'main']);
    expect(git(['--git-dir', sampleRepoPath(b), 'rev-parse', 'main'])).toBe(head);
    const clone = join(tempDir(), 'clone');
    git(['clone', '--quiet', sampleRepoPath(a), clone]);
    expect(git(['ls-files'], clone).split('\n').sort()).toEqual(['.gitignore', 'README.md', 'package.json', 'src/greet.js', 'test/greet.test.js']);
    const pkg = JSON.parse(git(['show', 'HEAD:package.json'], clone)) as Record<string, unknown>;
    expect(pkg.scripts).toEqual({ test: 'node --test' });
    expect(pkg.dependencies).toBeUndefined();
    const out = execFileSync(process.execPath, ['--test'], { cwd: clone, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    expect(out).toMatch(/# pass 2\n# fail 0/);
  });

  it('sweeps the temp directory of a maker that died midway', async () => {
    const d = tempDir();
    const dead = join(d, 'repos', '.tmp-sample-999999999-deadbeef');
    mkdirSync(join(dead, 'work'), { recursive: true });
    await ensureSampleRepo(d);
    expect(readdirSync(join(d, 'repos'))).toEqual(['sample.git']);
  });

  it('refuses to use a sample.git that is not a repository with main', async () => {
    const d = tempDir();
    mkdirSync(sampleRepoPath(d), { recursive: true });
    writeFileSync(join(sampleRepoPath(d), 'junk'), 'x');
    await expect(ensureSampleRepo(d)).rejects.toThrow(NonRetriableError);
    await expect(ensureSampleRepo(d)).rejects.toThrow(/remove it and local mode makes it again/);
  });
});
