// mergeLocal on a real local bare repository: the base branch of "origin" really moves,
// conflicts fail with their paths and leave base alone, and a second integration of the
// same branch is a no-op.
import { afterAll, describe, expect, it } from 'vitest';
import { GitConflictError, mergeLocal, type MergeMethod } from '../../../shared/agent/git/integrate.js';
import { openWorkspace } from '../../../shared/agent/git/workspace.js';
import { makeOrigin, removeTempDirs, sh, tempDir } from './repo.js';

afterAll(removeTempDirs);

const trailers = { 'Facteur-Idea': 'idea-1', 'Facteur-Task': 'T-1', 'Facteur-Run': 'run-int' };

function setup() {
  const origin = makeOrigin();
  origin.commit('main', { 'a.txt': 'a\n', 'shared.txt': 'one\ntwo\nthree\n' });
  const work = origin.commit('facteur/t-1', { 'feature.txt': 'feature\n' }, 'T-1: feature');
  // base moves on meanwhile (a non-conflicting change), so the merge is a real one
  origin.commit('main', { 'other.txt': 'other\n' }, 'unrelated');
  return { origin, work, cache: { cacheDir: tempDir(), remote: origin.path } };
}

const isAncestor = (repo: string, a: string, b: string) => {
  try {
    sh(repo, 'merge-base', '--is-ancestor', a, b);
    return true;
  } catch {
    return false;
  }
};

describe('mergeLocal', () => {
  it.each<MergeMethod>(['merge', 'squash', 'rebase'])('%s: base on origin then holds the work', async (method) => {
    const { origin, work, cache } = setup();
    const before = origin.tip('main');
    const r = await mergeLocal(cache, { branch: 'facteur/t-1', base: 'main', method, message: 'Merge T-1: feature', trailers });
    expect(r).toEqual({ merged: true, sha: origin.tip('main'), method });
    expect(r.sha).not.toBe(before);
    expect(isAncestor(origin.path, before, r.sha)).toBe(true);
    expect(sh(origin.path, 'show', `${r.sha}:feature.txt`)).toBe('feature');
    expect(sh(origin.path, 'show', `${r.sha}:other.txt`)).toBe('other');
    if (method === 'merge') {
      expect(sh(origin.path, 'rev-parse', `${r.sha}^2`)).toBe(work);
      expect(sh(origin.path, 'log', '-1', '--format=%(trailers:key=Facteur-Task,valueonly)', r.sha)).toBe('T-1');
    }
    if (method === 'squash') {
      expect(sh(origin.path, 'rev-list', '--count', `${before}..${r.sha}`)).toBe('1');
      expect(sh(origin.path, 'log', '-1', '--format=%s|%(trailers:key=Facteur-Run,valueonly)', r.sha)).toBe('Merge T-1: feature|run-int');
    }
    if (method === 'rebase') {
      expect(sh(origin.path, 'log', '-1', '--format=%s|%an', r.sha)).toBe('T-1: feature|Tester');
      expect(sh(origin.path, 'rev-parse', `${r.sha}~1`)).toBe(before);
    }
    // integrating again changes nothing
    const again = await mergeLocal(cache, { branch: 'facteur/t-1', base: 'main', method, message: 'Merge T-1: feature', trailers });
    expect(again).toEqual({ merged: true, sha: r.sha, method });
    expect(origin.tip('main')).toBe(r.sha);
  });

  it('is idempotent when the branch is already in base', async () => {
    const { origin, cache } = setup();
    sh(origin.path, 'update-ref', 'refs/heads/main', origin.tip('facteur/t-1'));
    const tip = origin.tip('main');
    expect(await mergeLocal(cache, { branch: 'facteur/t-1', base: 'main', method: 'merge', message: 'm', trailers })).toEqual({ merged: true, sha: tip, method: 'merge' });
    expect(origin.tip('main')).toBe(tip);
  });

  it.each<MergeMethod>(['merge', 'squash', 'rebase'])('%s: a conflict fails with git_conflict and its paths, base untouched', async (method) => {
    const { origin, cache } = setup();
    origin.commit('facteur/t-1', { 'shared.txt': 'one\nTWO by the run\nthree\n', 'a.txt': 'a by the run\n' });
    origin.commit('main', { 'shared.txt': 'one\nTWO upstream\nthree\n', 'a.txt': 'a upstream\n' });
    const before = origin.tip('main');
    const err = await mergeLocal(cache, { branch: 'facteur/t-1', base: 'main', method, message: 'Merge', trailers }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitConflictError);
    expect((err as GitConflictError).code).toBe('git_conflict');
    expect((err as GitConflictError).paths).toEqual(['a.txt', 'shared.txt']);
    expect((err as Error).message).toContain('a.txt, shared.txt');
    expect(origin.tip('main')).toBe(before);
    // the temporary worktree is gone
    expect(sh(origin.path, 'worktree', 'list')).not.toContain('integrate-');
  });

  it('works from a workspace of the run and fails clearly for a branch never pushed', async () => {
    const { origin } = setup();
    const ws = await openWorkspace({ cacheDir: tempDir(), remote: origin.url, base: 'main', branch: 'facteur/t-1', runId: 'run-int', fromHead: 'facteur/t-1' });
    try {
      const r = await mergeLocal(ws, { branch: 'facteur/t-1', base: 'main', method: 'merge', message: 'Merge', trailers });
      expect(origin.tip('main')).toBe(r.sha);
      expect(sh(ws.gitDir, 'worktree', 'list', '--porcelain')).not.toContain('integrate-');
      await expect(mergeLocal(ws, { branch: 'never-pushed', base: 'main', method: 'merge', message: 'Merge', trailers }))
        .rejects.toMatchObject({ code: 'invalid_ref' });
    } finally {
      await ws.close();
    }
  });
});
