// diffStats and changedPaths on a real repository: the numbers must be what
// `git diff --numstat` itself prints, renames and binary files included.
import { writeFileSync, mkdirSync, rmSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NonRetriableError } from '../../../shared/errors/index.js';
import { changedPaths, diffStats } from '../../../shared/agent/git/diff-stats.js';
import { removeTempDirs, sh, tempDir } from './repo.js';

afterAll(removeTempDirs);

const lines = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag} line ${i + 1}\n`).join('');

function repo(): { dir: string; base: string; head: string } {
  const dir = tempDir();
  sh(dir, '-c', 'init.defaultBranch=main', 'init', '--quiet');
  writeFileSync(join(dir, 'keep.txt'), lines(10, 'keep'));
  writeFileSync(join(dir, 'gone.txt'), lines(4, 'gone'));
  writeFileSync(join(dir, 'old name.md'), lines(30, 'moved'));
  writeFileSync(join(dir, 'logo.bin'), Buffer.from([0, 1, 2, 3, 0, 255]));
  sh(dir, 'add', '--all');
  sh(dir, 'commit', '--quiet', '-m', 'base');
  const base = sh(dir, 'rev-parse', 'HEAD');
  writeFileSync(join(dir, 'keep.txt'), lines(10, 'keep').replace('keep line 3\n', 'changed\nadded\n'));
  rmSync(join(dir, 'gone.txt'));
  mkdirSync(join(dir, 'docs'));
  renameSync(join(dir, 'old name.md'), join(dir, 'docs', 'new\tname.md'));
  writeFileSync(join(dir, 'docs', 'new\tname.md'), lines(30, 'moved') + 'one more\n');
  writeFileSync(join(dir, 'logo.bin'), Buffer.from([0, 9, 9, 9, 0, 255, 7]));
  writeFileSync(join(dir, 'fresh.ts'), 'export const x = 1;\nexport const y = 2;\n');
  sh(dir, 'add', '--all');
  sh(dir, 'commit', '--quiet', '-m', 'head');
  return { dir, base, head: sh(dir, 'rev-parse', 'HEAD') };
}

describe('diffStats', () => {
  it('matches git diff --numstat, with a rename and a binary file', async () => {
    const { dir, base, head } = repo();
    const stats = await diffStats(dir, base);
    expect(stats.base).toBe(base);
    expect(stats.head).toBe(head);

    // git's own text output, parsed independently: "added<TAB>removed<TAB>path"
    const numstat = sh(dir, '-c', 'core.quotePath=false', 'diff', '--numstat', '-M', base, head).split('\n');
    expect(stats.files).toHaveLength(numstat.length);
    let added = 0;
    let removed = 0;
    for (const line of numstat) {
      const [a, r] = line.split('\t');
      if (a !== '-') added += Number(a);
      if (r !== '-') removed += Number(r);
    }
    expect(stats.added).toBe(added);
    expect(stats.removed).toBe(removed);

    const byPath = Object.fromEntries(stats.files.map((f) => [f.path, f]));
    expect(byPath['keep.txt']).toEqual({ path: 'keep.txt', status: 'modified', added: 2, removed: 1, binary: false });
    expect(byPath['gone.txt']).toEqual({ path: 'gone.txt', status: 'deleted', added: 0, removed: 4, binary: false });
    expect(byPath['fresh.ts']).toEqual({ path: 'fresh.ts', status: 'added', added: 2, removed: 0, binary: false });
    expect(byPath['logo.bin']).toEqual({ path: 'logo.bin', status: 'modified', added: 0, removed: 0, binary: true });
    expect(byPath['docs/new\tname.md']).toEqual({ path: 'docs/new\tname.md', oldPath: 'old name.md', status: 'renamed', added: 1, removed: 0, binary: false });
    expect(numstat).toContain('2\t1\tkeep.txt');
    expect(numstat).toContain('-\t-\tlogo.bin');
  });

  it('is empty between a commit and itself, and refuses a ref that names nothing', async () => {
    const { dir, head } = repo();
    expect(await diffStats(dir, head, head)).toEqual({ base: head, head, files: [], added: 0, removed: 0 });
    await expect(diffStats(dir, 'no-such-branch')).rejects.toMatchObject({ code: 'invalid_ref' });
    await expect(diffStats(dir, '--output=/tmp/x')).rejects.toBeInstanceOf(NonRetriableError);
  });
});

describe('changedPaths', () => {
  it('lists committed, staged, unstaged and untracked changes, both sides of a rename, not ignored files', async () => {
    const { dir, base } = repo();
    writeFileSync(join(dir, '.gitignore'), 'build/\n');
    mkdirSync(join(dir, 'build'));
    writeFileSync(join(dir, 'build', 'out.js'), 'x');
    writeFileSync(join(dir, 'untracked.txt'), 'u');
    writeFileSync(join(dir, 'fresh.ts'), 'changed but not staged\n');
    writeFileSync(join(dir, 'staged.txt'), 's');
    sh(dir, 'add', 'staged.txt');
    expect(await changedPaths(dir, base)).toEqual(
      ['.gitignore', 'docs/new\tname.md', 'fresh.ts', 'gone.txt', 'keep.txt', 'logo.bin', 'old name.md', 'staged.txt', 'untracked.txt'].sort(),
    );
    expect(await changedPaths(dir, 'HEAD')).toEqual(['.gitignore', 'fresh.ts', 'staged.txt', 'untracked.txt']);
  });
});
