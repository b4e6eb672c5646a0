// Publishing a run's work: one commit of everything the coding agent changed, carrying
// trailers that tie it to its idea, task and run (so the history says which run wrote what,
// and a retried run can recognise its own commits), then a push of the branch.
//
// Hooks are switched off for both: a repository's pre-commit hooks are the repository's
// checks, run by the validation stage, and a `husky install` during the run must not make
// the commit fail or run arbitrary code at publication time. Signing is off too (no key in
// the pod, and a gpg prompt would hang).
import { NonRetriableError, ValidationError, type Issue } from '../../errors/index.js';
import { GitCommandError, git, localFailure, remoteFailure, type SecretLike } from './run.js';
import type { Workspace } from './workspace.js';

/** The trailers every run's commit carries; more may be added. */
export interface FacteurTrailers {
  readonly 'Facteur-Idea': string;
  readonly 'Facteur-Task': string;
  readonly 'Facteur-Run': string;
  readonly [key: string]: string;
}

export interface Identity {
  readonly name: string;
  readonly email: string;
}

export interface CommitOptions {
  readonly message: string;
  readonly trailers: FacteurTrailers;
  readonly author: Identity;
  /** Who commits; the author when omitted. */
  readonly committer?: Identity;
}

export interface CommitResult {
  /** The new commit, or HEAD when there was nothing to commit. */
  readonly sha: string;
  readonly committed: boolean;
}

export interface PushOptions {
  readonly token?: SecretLike | undefined;
  /**
   * Replace the remote branch, but only if it still is what this workspace last saw (when
   * it opened, or after its last push): another writer's commits are never thrown away.
   */
  readonly force?: 'with-lease';
}

/** Options that keep a repository's own hooks and signing settings out of our commits. */
export const NO_HOOKS = ['-c', 'core.hooksPath=/dev/null', '-c', 'commit.gpgSign=false', '-c', 'tag.gpgSign=false'];

// eslint-disable-next-line no-control-regex -- control characters are what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;
const TRAILER_KEY = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

/** Problems with trailers: keys git reads as one token, values on one line. */
export function trailerIssues(trailers: Readonly<Record<string, string>>, path = 'trailers'): Issue[] {
  const issues: Issue[] = [];
  for (const [key, value] of Object.entries(trailers)) {
    if (!TRAILER_KEY.test(key)) issues.push({ path: `${path}.${key}`, message: 'a trailer key is letters, digits and "-"' });
    if (typeof value !== 'string' || value.trim() === '' || CONTROL.test(value) || value.length > 500) {
      issues.push({ path: `${path}.${key}`, message: 'a trailer value is one non-empty line of at most 500 characters' });
    }
  }
  return issues;
}

export function identityIssues(who: Identity, path: string): Issue[] {
  const issues: Issue[] = [];
  if (!who.name.trim() || CONTROL.test(who.name) || /[<>]/.test(who.name)) {
    issues.push({ path: `${path}.name`, message: 'must be a non-empty name without <, > or control characters' });
  }
  if (!/^[^\s<>@]+@[^\s<>@]+$/.test(who.email)) issues.push({ path: `${path}.email`, message: 'must be an email address' });
  return issues;
}

/** The environment that makes git use these identities, whatever the config says. */
export function identityEnv(author: Identity, committer: Identity = author): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: committer.name,
    GIT_COMMITTER_EMAIL: committer.email,
  };
}

/** `--trailer "Key: value"` arguments. */
export function trailerArgs(trailers: Readonly<Record<string, string>>): string[] {
  return Object.entries(trailers).flatMap(([k, v]) => ['--trailer', `${k}: ${v.trim()}`]);
}

async function head(dir: string): Promise<string> {
  return (await git(['rev-parse', '--verify', 'HEAD'], { cwd: dir })).stdout.trim();
}

/**
 * Stages every change in the worktree at `dir` (new, modified, deleted; not ignored files)
 * and commits it with the trailers. Nothing changed → `{ committed: false, sha: HEAD }`.
 */
export async function commitAll(dir: string, opts: CommitOptions): Promise<CommitResult> {
  const issues = [
    ...(opts.message.trim() === '' ? [{ path: 'message', message: 'must not be empty' }] : []),
    ...trailerIssues(opts.trailers),
    ...identityIssues(opts.author, 'author'),
    ...(opts.committer ? identityIssues(opts.committer, 'committer') : []),
  ];
  if (issues.length > 0) throw new ValidationError('invalid commit', issues);
  try {
    await git(['add', '--all'], { cwd: dir });
    const staged = await git(['diff', '--cached', '--quiet', '--no-ext-diff'], { cwd: dir, okCodes: [1] });
    if (staged.code === 0) return { sha: await head(dir), committed: false };
    await git([...NO_HOOKS, 'commit', '--quiet', '--no-verify', '--cleanup=whitespace', '-F', '-', ...trailerArgs(opts.trailers)], {
      cwd: dir,
      input: opts.message,
      env: identityEnv(opts.author, opts.committer),
    });
    return { sha: await head(dir), committed: true };
  } catch (err) {
    throw localFailure(err, 'committing');
  }
}

// What the remote branch was after this process's last push of it, per workspace: the
// lease a forced push checks (the workspace's own `remoteBranchSha` until the first push).
const lastPushed = new WeakMap<Workspace, string>();

/** Why the remote refused a push, from `git push --porcelain` and stderr; undefined if not refused. */
export function pushRefusal(err: GitCommandError): string | undefined {
  const line = `${err.stdout}\n${err.stderr}`.split('\n').find((l) => /^!\t/.test(l) || /\[(remote )?rejected\]/.test(l));
  // what the server said about it (a hook's or branch protection's reason), after git's summary
  const said = err.stderr.split('\n').filter((l) => /^remote: \S/.test(l)).map((l) => l.slice('remote: '.length).trim()).slice(0, 5).join(' / ');
  if (line) return `${line.replace(/^!\t/, '').trim()}${said ? ` — ${said.slice(0, 500)}` : ''}`;
  if (/GH006|protected branch|pre-receive hook declined|hook declined/i.test(err.stderr)) return err.stderr.trim();
  return undefined;
}

/**
 * Pushes the workspace's HEAD to its branch on the remote. A refusal by the remote (branch
 * protection, a hook, not a fast-forward, a lost lease) → NonRetriableError `push_rejected`;
 * auth, missing repository and network failures as for a fetch.
 */
export async function push(workspace: Workspace, opts: PushOptions = {}): Promise<void> {
  const ref = `refs/heads/${workspace.branch}`;
  const args = [...NO_HOOKS, 'push', '--porcelain', '--no-verify'];
  if (opts.force === 'with-lease') {
    const expected = lastPushed.get(workspace) ?? workspace.remoteBranchSha ?? '';
    // an empty expectation means "the branch must not exist yet"
    args.push(`--force-with-lease=${ref}:${expected}`);
  }
  args.push('origin', `HEAD:${ref}`);
  try {
    await git(args, { cwd: workspace.dir, token: opts.token ?? workspace.token });
  } catch (err) {
    if (err instanceof GitCommandError) {
      const refusal = pushRefusal(err);
      if (refusal) throw new NonRetriableError('push_rejected', `the remote refused the push of ${workspace.branch}: ${refusal}`, { cause: err });
    }
    throw remoteFailure(err, `pushing ${workspace.branch}`);
  }
  lastPushed.set(workspace, await head(workspace.dir));
}
