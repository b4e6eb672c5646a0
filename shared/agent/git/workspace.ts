// A run's own git worktree on its task's branch. Cloning a repository for every run is slow
// and wastes the disk, so each repository is cloned once into a cache (a bare repository
// with remote-tracking refs, fetched again at every open) and each run gets a worktree of
// it, named by its run id, holding the branch. A retry of a run continues where the
// previous attempt stopped: when the upstream's head branch (`fromHead`) exists remotely
// the branch starts from it, else from the base branch.
//
// Locks (see lock.ts): the branch and the run id are held for the workspace's whole life —
// two runs on one branch would push over each other — and the cache repository while it is
// fetched and while worktrees are added or removed. A killed pod leaves its worktree and
// locks behind; its locks are judged stale (its pid is gone) and its worktree is removed
// when adding the new one fails, then the add is tried once more.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NonRetriableError, ValidationError } from '../../errors/index.js';
import { gitBranchProblem } from '../../validation/refs.js';
import { acquireLock, type HeldLock, withLock } from './lock.js';
import { git, localFailure, remoteFailure, resolveCommit, type SecretLike } from './run.js';

export interface WorkspaceOptions {
  /** Where cache repositories, worktrees and locks live (one directory for all repositories). */
  readonly cacheDir: string;
  /** The repository: an https URL (without credentials), a file:// URL or a local path. */
  readonly remote: string;
  /** The branch the work is based on and later merged into. */
  readonly base: string;
  /** The run's branch (created or reset locally; pushed by `push`). */
  readonly branch: string;
  /** Names the worktree directory; one workspace per run id at a time. */
  readonly runId: string;
  /** The upstream's head branch: when it exists remotely, the branch starts from it. */
  readonly fromHead?: string | undefined;
  readonly token?: SecretLike | undefined;
  /** How long to wait for another run holding the same branch or run id. Default 60 s. */
  readonly lockTimeoutMs?: number | undefined;
}

/** Where a repository's cache lives; what `mergeLocal` needs to work without a workspace. */
export interface CacheRef {
  readonly cacheDir: string;
  readonly remote: string;
  readonly token?: SecretLike | undefined;
  readonly lockTimeoutMs?: number | undefined;
}

export interface Workspace extends CacheRef {
  /** The worktree: where the coding agent works. */
  readonly dir: string;
  readonly branch: string;
  readonly base: string;
  readonly runId: string;
  /** What the branch's changes are measured against: the merge base of base and the start. */
  readonly baseSha: string;
  /** The commit the branch was set to when the workspace opened. */
  readonly startSha: string;
  /** The branch's tip on the remote when the workspace opened, null when it did not exist. */
  readonly remoteBranchSha: string | null;
  /** The cache repository (its git dir), shared by every worktree of this remote. */
  readonly gitDir: string;
  /** Removes the worktree and releases the locks; safe to call twice. */
  close(): Promise<void>;
}

/** The paths of one remote's cache. */
export interface CachePaths {
  readonly url: string;
  readonly key: string;
  readonly gitDir: string;
  readonly worktrees: string;
  readonly locks: string;
}

const DEFAULT_LOCK_TIMEOUT_MS = 60_000;
// fetching a big repository can take minutes; the cache lock is waited for that long
export const CACHE_LOCK_TIMEOUT_MS = 15 * 60_000;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function invalidRemote(message: string): ValidationError {
  return new ValidationError(`invalid repository remote: ${message}`, [{ path: 'remote', message }]);
}

/**
 * The URL git is given and a stable key for the cache. Credentials in the URL are refused
 * (they would land in the cache's config and in every error message): pass `token`.
 */
export function parseRemote(remote: string): { readonly url: string; readonly key: string } {
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (remote.trim() === '' || /[\u0000-\u001f\u007f]/.test(remote)) throw invalidRemote('must be a URL or path without control characters');
  let url: string;
  let keySource: string;
  if (/^https?:\/\//i.test(remote)) {
    let u: URL;
    try {
      u = new URL(remote);
    } catch {
      throw invalidRemote('is not a valid URL');
    }
    if (u.username || u.password) throw invalidRemote('must not contain credentials (pass the token separately)');
    if (u.search || u.hash) throw invalidRemote('must not have a query or fragment');
    url = u.href;
    // github.com/o/r and github.com/o/r.git/ are one repository: one cache, one set of locks
    keySource = `${u.protocol}//${u.host.toLowerCase()}${u.pathname.replace(/\/+$/, '').replace(/\.git$/, '')}`;
  } else if (/^file:\/\//i.test(remote)) {
    let path: string;
    try {
      path = fileURLToPath(remote);
    } catch {
      throw invalidRemote('is not a valid file:// URL');
    }
    // the same repository as its path: the same cache and locks whichever way it is named
    url = resolve(path);
    keySource = url;
  } else if (/^[a-z][a-z0-9+.-]*:/i.test(remote) && !isAbsolute(remote)) {
    // ssh, git, ext:: and other transports: not what facteur-agent is given
    throw invalidRemote('must be an https URL, a file:// URL or a local path');
  } else {
    url = resolve(remote);
    keySource = url;
  }
  keySource = keySource.length > 1 ? keySource.replace(/\/+$/, '') : keySource;
  const slug = keySource
    .replace(/^https?:\/\//, '')
    .replace(/\.git$/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._-]+/, '')
    .slice(-60);
  const hash = createHash('sha256').update(keySource).digest('hex').slice(0, 12);
  return { url, key: `${slug || 'repo'}-${hash}` };
}

export function cachePaths(cacheDir: string, remote: string): CachePaths {
  const { url, key } = parseRemote(remote);
  const root = resolve(cacheDir);
  return {
    url,
    key,
    gitDir: join(root, `${key}.git`),
    worktrees: join(root, `${key}.worktrees`),
    locks: join(root, `${key}.locks`),
  };
}

/** A lock file name for a branch: readable, bounded, and distinct for distinct branches. */
/** The lock of the cache repository itself (fetches, worktree adds and removes). */
export const cacheLockPath = (paths: CachePaths): string => join(paths.locks, 'cache.lock');

export function branchLockName(branch: string): string {
  const slug = branch.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
  return `branch-${slug}-${createHash('sha256').update(branch).digest('hex').slice(0, 12)}.lock`;
}

export function checkRef(name: string, value: string): void {
  const problem = gitBranchProblem(value);
  if (problem) throw new NonRetriableError('invalid_ref', `${name} ${JSON.stringify(value)} is not a valid branch name: ${problem}`);
}

const gd = (gitDir: string) => ['--git-dir', gitDir];

/**
 * Creates the cache repository when missing (in a temp dir, then renamed into place, so a
 * killed init never leaves half a repository), points it at `url` and fetches every
 * branch. Call with the cache lock held.
 */
export async function ensureFetched(paths: CachePaths, token: SecretLike | undefined): Promise<void> {
  let created = false;
  if (!existsSync(join(paths.gitDir, 'HEAD'))) {
    rmSync(paths.gitDir, { recursive: true, force: true });
    const tmp = `${paths.gitDir}.init-${randomUUID()}`;
    try {
      await git(['-c', 'init.defaultBranch=main', 'init', '--bare', '--quiet', tmp]);
      await git([...gd(tmp), 'config', 'remote.origin.fetch', '+refs/heads/*:refs/remotes/origin/*']);
      // no automatic gc while worktrees of other runs may be committing
      await git([...gd(tmp), 'config', 'gc.auto', '0']);
      renameSync(tmp, paths.gitDir);
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw localFailure(err, 'creating the cache repository');
    }
    created = true;
  }
  // always (re)set: the URL is part of the key, but a hand-edited cache must not win
  await git([...gd(paths.gitDir), 'config', 'remote.origin.url', paths.url]).catch((err: unknown) => {
    throw localFailure(err, 'configuring the cache repository');
  });
  try {
    await git([...gd(paths.gitDir), 'fetch', '--prune', '--no-tags', '--quiet', 'origin'], { token });
  } catch (err) {
    // a repository that does not exist must not leave an empty cache behind
    if (created) rmSync(paths.gitDir, { recursive: true, force: true });
    throw remoteFailure(err, `fetching ${paths.url}`);
  }
}

/** Removes a worktree directory and git's record of it, whatever state it was left in. */
export async function removeWorktree(gitDir: string, dir: string): Promise<void> {
  if (existsSync(dir)) {
    // twice --force: also when it was left locked (`git worktree lock`) or dirty
    await git([...gd(gitDir), 'worktree', 'remove', '--force', '--force', dir], { okCodes: [128] });
    rmSync(dir, { recursive: true, force: true });
  }
  await git([...gd(gitDir), 'worktree', 'prune'], { okCodes: [128] });
}

/** The worktrees that have `branch` checked out. */
async function worktreesOn(gitDir: string, branch: string): Promise<string[]> {
  const r = await git([...gd(gitDir), 'worktree', 'list', '--porcelain', '-z']);
  const found: string[] = [];
  let path: string | undefined;
  for (const field of r.stdout.split('\0')) {
    if (field.startsWith('worktree ')) path = field.slice('worktree '.length);
    else if (field === `branch refs/heads/${branch}` && path) found.push(path);
  }
  return found;
}

/** A stale worktree of this run id or of this branch (we hold both locks, so it is stale). */
async function cleanStale(gitDir: string, dir: string, branch: string): Promise<void> {
  await removeWorktree(gitDir, dir);
  for (const other of await worktreesOn(gitDir, branch)) await removeWorktree(gitDir, other);
  rmSync(join(gitDir, 'worktrees', basename(dir)), { recursive: true, force: true });
  await git([...gd(gitDir), 'worktree', 'prune'], { okCodes: [128] });
}

async function addWorktree(gitDir: string, dir: string, branch: string, start: string): Promise<void> {
  const add = () => git([...gd(gitDir), 'worktree', 'add', '--quiet', '--no-track', '-B', branch, dir, start]);
  try {
    await add();
  } catch {
    await cleanStale(gitDir, dir, branch);
    try {
      await add();
    } catch (err) {
      throw localFailure(err, `adding the worktree for ${branch}`);
    }
  }
}

/** Opens (fetches, adds) the run's worktree on its branch; see the file header. */
export async function openWorkspace(opts: WorkspaceOptions): Promise<Workspace> {
  checkRef('branch', opts.branch);
  checkRef('base', opts.base);
  if (opts.fromHead !== undefined) checkRef('fromHead', opts.fromHead);
  if (!RUN_ID.test(opts.runId)) {
    throw new ValidationError('invalid run id', [{ path: 'runId', message: 'must be 1-128 letters, digits, "_", "-" or ".", starting with a letter or digit' }]);
  }
  const paths = cachePaths(opts.cacheDir, opts.remote);
  const lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const dir = join(paths.worktrees, opts.runId);
  mkdirSync(paths.worktrees, { recursive: true });

  const held: HeldLock[] = [];
  const releaseAll = () => {
    for (const l of held.splice(0).reverse()) l.release();
  };
  try {
    held.push(await acquireLock(join(paths.locks, branchLockName(opts.branch)), {
      what: `branch ${opts.branch} of ${paths.url}`, owner: `run ${opts.runId}`, timeoutMs: lockTimeoutMs,
    }));
    held.push(await acquireLock(join(paths.locks, `run-${opts.runId}.lock`), {
      what: `the workspace of run ${opts.runId}`, owner: `run ${opts.runId}`, timeoutMs: lockTimeoutMs,
    }));
    const refs = await withLock(cacheLockPath(paths), {
      what: `the cache of ${paths.url}`, owner: `run ${opts.runId}`, timeoutMs: Math.max(lockTimeoutMs, CACHE_LOCK_TIMEOUT_MS),
    }, async () => {
      await ensureFetched(paths, opts.token);
      const baseTip = await resolveCommit(gd(paths.gitDir), `refs/remotes/origin/${opts.base}`);
      if (!baseTip) throw new NonRetriableError('invalid_ref', `the base branch ${opts.base} does not exist in ${paths.url}`);
      const headTip = opts.fromHead ? await resolveCommit(gd(paths.gitDir), `refs/remotes/origin/${opts.fromHead}`) : undefined;
      const start = headTip ?? baseTip;
      const remoteBranchSha = (await resolveCommit(gd(paths.gitDir), `refs/remotes/origin/${opts.branch}`)) ?? null;
      const mb = await git([...gd(paths.gitDir), 'merge-base', baseTip, start], { okCodes: [1] });
      const baseSha = mb.code === 0 ? mb.stdout.trim() : baseTip;
      await addWorktree(paths.gitDir, dir, opts.branch, start);
      return { start, baseSha, remoteBranchSha };
    });
    let closed = false;
    const workspace: Workspace = {
      dir,
      branch: opts.branch,
      base: opts.base,
      runId: opts.runId,
      baseSha: refs.baseSha,
      startSha: refs.start,
      remoteBranchSha: refs.remoteBranchSha,
      gitDir: paths.gitDir,
      cacheDir: opts.cacheDir,
      remote: opts.remote,
      token: opts.token,
      lockTimeoutMs,
      async close() {
        if (closed) return;
        closed = true;
        try {
          await withLock(cacheLockPath(paths), {
            what: `the cache of ${paths.url}`, owner: `run ${opts.runId}`, timeoutMs: CACHE_LOCK_TIMEOUT_MS,
          }, () => removeWorktree(paths.gitDir, dir));
        } finally {
          releaseAll();
        }
      },
    };
    return workspace;
  } catch (err) {
    releaseAll();
    throw err;
  }
}
