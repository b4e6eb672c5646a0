// Local-mode integration: with no GitHub, "merging the pull request" is a real merge of the
// run's branch into the base branch of the local bare repository. It happens in a temporary
// worktree of the cache (never in the run's worktree, never in the bare repository by hand),
// and the result is pushed to the base branch with a lease on the tip it was built on, so a
// base that moved meanwhile is never overwritten (the merge is redone on the new tip).
//
// A conflict fails loudly with the conflicting paths (`git_conflict`): integration must
// never report success for work that is not on base. Integrating again what is already
// there (a retried integration step) succeeds without a new commit.
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NonRetriableError, RetryableError, ValidationError } from '../../errors/index.js';
import { identityEnv, identityIssues, NO_HOOKS, pushRefusal, trailerArgs, trailerIssues, type Identity } from './commit.js';
import { withLock } from './lock.js';
import { GitCommandError, git, localFailure, remoteFailure, resolveCommit } from './run.js';
import {
  branchLockName, CACHE_LOCK_TIMEOUT_MS, cacheLockPath, cachePaths, checkRef, ensureFetched, removeWorktree,
  type CachePaths, type CacheRef,
} from './workspace.js';

export type MergeMethod = 'merge' | 'squash' | 'rebase';

export interface MergeLocalOptions {
  readonly branch: string;
  readonly base: string;
  readonly method: MergeMethod;
  /** The merge or squash commit's message (a rebase keeps the branch's own commits). */
  readonly message: string;
  readonly trailers: Readonly<Record<string, string>>;
  /** Who makes the merge commit (and re-commits on a rebase). */
  readonly committer?: Identity;
}

export interface MergeResult {
  readonly merged: boolean;
  /** The base branch's tip afterwards. */
  readonly sha: string;
  readonly method: MergeMethod;
}

/** The branch cannot be merged without a human: which paths conflict. */
export class GitConflictError extends NonRetriableError {
  constructor(
    readonly paths: readonly string[],
    message: string,
  ) {
    super('git_conflict', message);
  }
}

const DEFAULT_COMMITTER: Identity = { name: 'Facteur', email: 'facteur@localhost' };
const ATTEMPTS = 3;

class BaseMoved extends Error {}

async function conflicted(dir: string): Promise<string[]> {
  const r = await git(['diff', '--name-only', '--diff-filter=U', '-z'], { cwd: dir, okCodes: [1, 128] });
  return r.stdout.split('\0').filter((p) => p !== '').sort();
}

/** The message with the trailers appended the way git writes them. */
async function withTrailers(dir: string, message: string, trailers: Readonly<Record<string, string>>): Promise<string> {
  const r = await git(['interpret-trailers', ...trailerArgs(trailers)], { cwd: dir, input: message.endsWith('\n') ? message : `${message}\n` });
  return r.stdout;
}

function conflictError(paths: string[], opts: MergeLocalOptions): GitConflictError {
  const list = paths.length > 0 ? paths.join(', ') : '(git named no path)';
  return new GitConflictError(paths, `${opts.method} of ${opts.branch} into ${opts.base} conflicts in: ${list}`);
}

/** Does the merge in `dir` (detached at the right start) and leaves the result at HEAD, or throws. */
async function combine(dir: string, baseTip: string, branchTip: string, opts: MergeLocalOptions, env: Record<string, string>): Promise<void> {
  if (opts.method === 'rebase') {
    const r = await git([...NO_HOOKS, 'rebase', '--no-autosquash', '--no-verify', baseTip], { cwd: dir, env, okCodes: [1, 128] });
    if (r.code !== 0) {
      const paths = await conflicted(dir);
      await git(['rebase', '--abort'], { cwd: dir, okCodes: [1, 128] });
      if (paths.length === 0) throw new NonRetriableError('git_failed', `rebase of ${opts.branch} onto ${opts.base} failed: ${r.stderr.trim() || r.stdout.trim()}`);
      throw conflictError(paths, opts);
    }
    return;
  }
  const message = await withTrailers(dir, opts.message, opts.trailers);
  const file = join(dir, '..', `.facteur-merge-msg-${randomUUID()}`);
  writeFileSync(file, message);
  try {
    const args = opts.method === 'merge'
      ? [...NO_HOOKS, 'merge', '--no-ff', '--no-edit', '--no-verify', '-F', file, branchTip]
      : [...NO_HOOKS, 'merge', '--squash', '--no-verify', branchTip];
    const r = await git(args, { cwd: dir, env, okCodes: [1, 128] });
    if (r.code !== 0) {
      const paths = await conflicted(dir);
      await git(['merge', '--abort'], { cwd: dir, okCodes: [1, 128] });
      await git(['reset', '--hard', '--quiet', baseTip], { cwd: dir, okCodes: [1, 128] });
      if (paths.length === 0) throw new NonRetriableError('git_failed', `merge of ${opts.branch} into ${opts.base} failed: ${r.stderr.trim() || r.stdout.trim()}`);
      throw conflictError(paths, opts);
    }
    if (opts.method === 'squash') {
      const staged = await git(['diff', '--cached', '--quiet'], { cwd: dir, okCodes: [1] });
      // nothing left to squash in: base already has all of it (an earlier squash of the same branch)
      if (staged.code === 0) return;
      await git([...NO_HOOKS, 'commit', '--quiet', '--no-verify', '--cleanup=whitespace', '-F', file], { cwd: dir, env });
    }
  } finally {
    rmSync(file, { force: true });
  }
}

/** One attempt on the tips fetched now. BaseMoved when the push lost the race for base. */
async function attempt(paths: CachePaths, target: CacheRef, opts: MergeLocalOptions, env: Record<string, string>): Promise<MergeResult> {
  const dir = join(paths.worktrees, `integrate-${randomUUID()}`);
  const cacheLock = { what: `the cache of ${paths.url}`, owner: `integration of ${opts.branch}`, timeoutMs: CACHE_LOCK_TIMEOUT_MS };
  const tips = await withLock(cacheLockPath(paths), cacheLock, async () => {
    await ensureFetched(paths, target.token);
    const gd = ['--git-dir', paths.gitDir];
    const baseTip = await resolveCommit(gd, `refs/remotes/origin/${opts.base}`);
    if (!baseTip) throw new NonRetriableError('invalid_ref', `the base branch ${opts.base} does not exist in ${paths.url}`);
    const branchTip = await resolveCommit(gd, `refs/remotes/origin/${opts.branch}`);
    if (!branchTip) throw new NonRetriableError('invalid_ref', `the branch ${opts.branch} does not exist in ${paths.url} (was it pushed?)`);
    const contained = await git([...gd, 'merge-base', '--is-ancestor', branchTip, baseTip], { okCodes: [1] });
    if (contained.code === 0) return { baseTip, branchTip, already: true };
    await git([...gd, 'worktree', 'add', '--quiet', '--detach', dir, opts.method === 'rebase' ? branchTip : baseTip]).catch((err: unknown) => {
      throw localFailure(err, 'adding the integration worktree');
    });
    return { baseTip, branchTip, already: false };
  });
  if (tips.already) return { merged: true, sha: tips.baseTip, method: opts.method };
  try {
    try {
      await combine(dir, tips.baseTip, tips.branchTip, opts, env);
    } catch (err) {
      throw err instanceof GitCommandError ? localFailure(err, `${opts.method} of ${opts.branch}`) : err;
    }
    const result = (await git(['rev-parse', '--verify', 'HEAD'], { cwd: dir })).stdout.trim();
    if (result === tips.baseTip) return { merged: true, sha: tips.baseTip, method: opts.method };
    const ref = `refs/heads/${opts.base}`;
    try {
      await git([...NO_HOOKS, 'push', '--porcelain', '--no-verify', `--force-with-lease=${ref}:${tips.baseTip}`, 'origin', `${result}:${ref}`], {
        cwd: dir,
        token: target.token,
      });
    } catch (err) {
      const refusal = err instanceof GitCommandError ? pushRefusal(err) : undefined;
      if (refusal && /stale info|fetch first|non-fast-forward/.test(refusal)) throw new BaseMoved(refusal);
      if (refusal) throw new NonRetriableError('push_rejected', `the remote refused the update of ${opts.base}: ${refusal}`, { cause: err });
      throw remoteFailure(err, `pushing ${opts.base}`);
    }
    return { merged: true, sha: result, method: opts.method };
  } finally {
    await withLock(cacheLockPath(paths), cacheLock, () => removeWorktree(paths.gitDir, dir)).catch(() => {
      // a leftover integration worktree is pruned by the next one; the result stands
    });
  }
}

/**
 * Merges `branch` into `base` on the remote of `target` (a workspace, or where its cache is)
 * with `method`, and pushes base. See the file header.
 */
export async function mergeLocal(target: CacheRef, opts: MergeLocalOptions): Promise<MergeResult> {
  checkRef('branch', opts.branch);
  checkRef('base', opts.base);
  const issues = [
    ...(opts.method !== 'rebase' && opts.message.trim() === '' ? [{ path: 'message', message: 'must not be empty' }] : []),
    ...(['merge', 'squash', 'rebase'].includes(opts.method) ? [] : [{ path: 'method', message: 'must be merge, squash or rebase' }]),
    ...trailerIssues(opts.trailers),
    ...(opts.committer ? identityIssues(opts.committer, 'committer') : []),
  ];
  if (issues.length > 0) throw new ValidationError('invalid merge', issues);
  const paths = cachePaths(target.cacheDir, target.remote);
  const committer = opts.committer ?? DEFAULT_COMMITTER;
  // a rebase keeps each commit's author; only a merge or squash commit is the committer's own
  const both = identityEnv(committer, committer);
  const env = opts.method === 'rebase'
    ? { GIT_COMMITTER_NAME: both.GIT_COMMITTER_NAME!, GIT_COMMITTER_EMAIL: both.GIT_COMMITTER_EMAIL! }
    : both;
  // one integration into a base branch at a time (from this cache); the lease covers the rest
  return withLock(join(paths.locks, `integrate-${branchLockName(opts.base)}`), {
    what: `integration into ${opts.base} of ${paths.url}`,
    owner: `integration of ${opts.branch}`,
    timeoutMs: target.lockTimeoutMs ?? CACHE_LOCK_TIMEOUT_MS,
  }, async () => {
    for (let i = 1; ; i++) {
      try {
        return await attempt(paths, target, opts, env);
      } catch (err) {
        if (!(err instanceof BaseMoved)) throw err;
        if (i >= ATTEMPTS) throw new RetryableError('base_moved', `${opts.base} kept moving while ${opts.branch} was merged into it (${err.message})`, 1000);
      }
    }
  });
}
