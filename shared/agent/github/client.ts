// facteur-agent's GitHub side, over Octokit: open (or update) the run's pull request, read
// whether its checks are green, merge it, tag a release. Every GitHub failure becomes one of
// our errors, so the stage reports a code the control plane understands:
//   401 → auth_failed; 403 without a rate limit → auth_failed (the token lacks a permission);
//   404 → repository_not_found; 422 → ValidationError with GitHub's `errors[]` as issues;
//   403/429 rate limits → waited out and retried while the wait ends before `deadline`,
//   else RetryableError `rate_limited` with how long to wait; 5xx and network failures →
//   retried a few times with backoff (within the deadline), else RetryableError
//   `github_unavailable`.
//
// Octokit's throttling and retry plugins are not used: they recognise a secondary rate
// limit by its message text, ignore a 429 that lacks it, retry 405/409 answers, and cannot
// stop at a deadline. The rules above are a dozen lines of our own (`requestHook`).
import { Octokit } from '@octokit/rest';
import { NonRetriableError, RetryableError, ValidationError, type Issue } from '../../errors/index.js';
import { gitBranchProblem, repositoryProblem } from '../../validation/refs.js';
import type { SecretLike } from '../git/run.js';

export interface GitHubOptions {
  readonly token: SecretLike;
  /** The REST API root: GitHub Enterprise Server (`https://host/api/v3`) or a test server. */
  readonly baseUrl?: string;
  /** Epoch ms: no wait for a rate limit or a retry ends after this. Default: waits up to 60 s each. */
  readonly deadline?: number;
  /** Per request. Default 30 s. */
  readonly requestTimeoutMs?: number;
}

export interface RepoRef {
  readonly owner: string;
  readonly repo: string;
}

export interface PullRequestInput extends RepoRef {
  /** The branch with the work (`branch`, or `owner:branch` from a fork). */
  readonly head: string;
  readonly base: string;
  readonly title: string;
  readonly body: string;
}

export interface PullRequestRef {
  readonly number: number;
  readonly url: string;
  readonly created: boolean;
  /**
   * Who GitHub says opened it (`user.login`): the account behind the token. That person is
   * the change's author for approvals, and may not approve it.
   */
  readonly author: string | null;
}

export interface ChecksState {
  readonly green: boolean;
  /** Names of statuses and check runs not finished yet (and required ones not reported yet). */
  readonly pending: readonly string[];
  /** Names of statuses and check runs that failed. */
  readonly failing: readonly string[];
}

export type MergeMethod = 'merge' | 'squash' | 'rebase';

export interface GitHub {
  ensurePullRequest(input: PullRequestInput): Promise<PullRequestRef>;
  /**
   * Whether every commit status and check run on `ref` succeeded. `required` names checks that
   * must be there: one not reported yet counts as pending (a check that has not started is not
   * a green one).
   */
  requiredChecksGreen(input: RepoRef & { readonly ref: string; readonly required?: readonly string[] }): Promise<ChecksState>;
  mergePullRequest(input: RepoRef & { readonly number: number; readonly method: MergeMethod; readonly sha?: string; readonly commitTitle?: string }): Promise<{ merged: boolean; sha: string }>;
  /** A lightweight tag `tag` at `sha`; already there at that sha → `created: false`. */
  createTag(input: RepoRef & { readonly tag: string; readonly sha: string }): Promise<{ ref: string; sha: string; created: boolean }>;
}

const DEFAULT_MAX_WAIT_MS = 60_000;
const MAX_ATTEMPTS = 6;
const SECONDARY_FALLBACK_MS = 60_000;

/** The parts of Octokit's RequestError we read (checked by shape: it is not our package). */
interface HttpFailure {
  readonly status: number;
  readonly message: string;
  readonly response?: { readonly headers: Readonly<Record<string, string | number | undefined>>; readonly data?: unknown };
}

function isHttpFailure(err: unknown): err is HttpFailure {
  return typeof err === 'object' && err !== null && typeof (err as { status?: unknown }).status === 'number';
}

const header = (err: HttpFailure, name: string): string | undefined => {
  const v = err.response?.headers[name];
  return v === undefined ? undefined : String(v);
};

/** How long GitHub asks us to wait, when `err` is a rate limit; undefined when it is not one. */
export function rateLimitWaitMs(err: unknown, now = Date.now()): number | undefined {
  if (!isHttpFailure(err) || (err.status !== 403 && err.status !== 429) || !err.response) return undefined;
  const retryAfter = header(err, 'retry-after');
  if (retryAfter !== undefined && /^\d+$/.test(retryAfter.trim())) return Number(retryAfter) * 1000;
  if (header(err, 'x-ratelimit-remaining') === '0') {
    const reset = Number(header(err, 'x-ratelimit-reset'));
    // a little after the reset: GitHub's clock and ours are not the same clock
    if (Number.isFinite(reset) && reset > 0) return Math.max(0, reset * 1000 - now) + 500;
    return SECONDARY_FALLBACK_MS;
  }
  if (err.status === 429 || /secondary rate limit|abuse/i.test(err.message)) return SECONDARY_FALLBACK_MS;
  return undefined;
}

/** Backoff for a 5xx or a network failure (status 500 without a response); undefined otherwise. */
function transientWaitMs(err: unknown, attempt: number): number | undefined {
  if (!isHttpFailure(err)) return undefined;
  if (err.status >= 500 || !err.response) return Math.min(8000, 500 * 2 ** attempt);
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GitHub's `errors[]` of a 422 as our issues. */
function issuesOf(data: unknown): Issue[] {
  const errors = (data as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.map((e: unknown) => {
    if (typeof e === 'string') return { path: 'request', message: e };
    const o = (e ?? {}) as { resource?: unknown; field?: unknown; code?: unknown; message?: unknown };
    const path = [o.resource, o.field].filter((x) => typeof x === 'string' && x !== '').join('.') || 'request';
    const message = typeof o.message === 'string' && o.message ? o.message : typeof o.code === 'string' ? o.code : 'invalid';
    return { path, message };
  });
}

/** Any failure of a GitHub call as our error; `what` names the call. */
export function githubFailure(err: unknown, what: string, now = Date.now()): Error {
  if (!isHttpFailure(err)) return err instanceof Error ? err : new Error(String(err));
  const detail = `${what}: GitHub answered ${err.status}${err.message ? ` (${err.message})` : ''}`;
  const wait = rateLimitWaitMs(err, now);
  if (wait !== undefined) return new RetryableError('rate_limited', `${what}: rate limited by GitHub; retry in ${Math.ceil(wait / 1000)} s`, wait, { cause: err });
  if (!err.response || err.status >= 500) return new RetryableError('github_unavailable', detail, undefined, { cause: err });
  if (err.status === 401 || err.status === 403) return new NonRetriableError('auth_failed', detail, { cause: err });
  if (err.status === 404) return new NonRetriableError('repository_not_found', `${detail}: no such repository or resource, or the token cannot see it`, { cause: err });
  if (err.status === 422) return new ValidationError(detail, issuesOf(err.response.data), 'github_rejected', { cause: err });
  return new NonRetriableError('github_failed', detail, { cause: err });
}

type RequestFn = (options: Record<string, unknown> & { request?: Record<string, unknown> }) => Promise<unknown>;

/**
 * The retry rules of the header, wrapped around every request Octokit sends. A wait that would
 * end after the deadline is not started: the failure is thrown (and mapped by the caller).
 */
function requestHook(deadline: number | undefined, timeoutMs: number) {
  return async (request: RequestFn, options: Record<string, unknown> & { request?: Record<string, unknown> }): Promise<unknown> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await request({ ...options, request: { ...options.request, signal: AbortSignal.timeout(timeoutMs) } });
      } catch (err) {
        const wait = rateLimitWaitMs(err) ?? transientWaitMs(err, attempt);
        if (wait === undefined || attempt + 1 >= MAX_ATTEMPTS) throw err;
        const limit = deadline ?? Date.now() + DEFAULT_MAX_WAIT_MS;
        if (Date.now() + wait > limit) throw err;
        await sleep(wait);
      }
    }
  };
}

function checkRepo(ref: RepoRef): void {
  const problem = repositoryProblem(`${ref.owner}/${ref.repo}`);
  if (problem) throw new ValidationError('invalid repository', [{ path: 'repository', message: problem }]);
}

// eslint-disable-next-line no-control-regex -- control characters are what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

function checkPullRequest(input: PullRequestInput): void {
  checkRepo(input);
  const issues: Issue[] = [];
  const [headOwner, headBranch] = input.head.includes(':') ? input.head.split(/:(.*)/s, 2) : [input.owner, input.head];
  const headProblem = gitBranchProblem(headBranch ?? '') ?? (headOwner && !/^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/.test(headOwner) ? 'the owner before ":" is not a GitHub login' : undefined);
  if (headProblem) issues.push({ path: 'head', message: headProblem });
  const baseProblem = gitBranchProblem(input.base);
  if (baseProblem) issues.push({ path: 'base', message: baseProblem });
  if (input.title.trim() === '' || input.title.length > 256 || CONTROL.test(input.title)) {
    issues.push({ path: 'title', message: 'must be one non-empty line of at most 256 characters' });
  }
  if (input.body.length > 65_536) issues.push({ path: 'body', message: 'must be at most 65536 characters (GitHub’s limit)' });
  if (issues.length > 0) throw new ValidationError('invalid pull request', issues);
}

const SUCCESS = new Set(['success', 'neutral', 'skipped']);

/** Creates the client. Nothing is sent until a method is called. */
export function createGitHub(opts: GitHubOptions): GitHub {
  const octokit = new Octokit({
    auth: opts.token.reveal(),
    userAgent: 'facteur-agent',
    ...(opts.baseUrl ? { baseUrl: opts.baseUrl.replace(/\/+$/, '') } : {}),
    // Octokit's own console logging would print request URLs and deprecation notes; the
    // stage reports failures through our errors instead
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
  octokit.hook.wrap('request', requestHook(opts.deadline, opts.requestTimeoutMs ?? 30_000) as never);

  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw githubFailure(err, what);
    }
  };

  async function findOpen(input: PullRequestInput, headFilter: string) {
    const { data } = await call('listing pull requests', () =>
      octokit.rest.pulls.list({ owner: input.owner, repo: input.repo, state: 'open', head: headFilter, base: input.base, per_page: 100 }));
    return data.find((pr) => pr.base.ref === input.base);
  }

  async function ensurePullRequest(input: PullRequestInput): Promise<PullRequestRef> {
    checkPullRequest(input);
    const headFilter = input.head.includes(':') ? input.head : `${input.owner}:${input.head}`;
    const update = async (pr: { number: number; html_url: string; title: string; body: string | null; user?: { login?: string } | null }) => {
      if (pr.title !== input.title || (pr.body ?? '') !== input.body) {
        await call(`updating pull request #${pr.number}`, () =>
          octokit.rest.pulls.update({ owner: input.owner, repo: input.repo, pull_number: pr.number, title: input.title, body: input.body }));
      }
      return { number: pr.number, url: pr.html_url, created: false, author: loginOf(pr.user) };
    };
    const existing = await findOpen(input, headFilter);
    if (existing) return update(existing);
    try {
      const { data } = await call('creating the pull request', () =>
        octokit.rest.pulls.create({ owner: input.owner, repo: input.repo, head: input.head, base: input.base, title: input.title, body: input.body }));
      return { number: data.number, url: data.html_url, created: true, author: loginOf(data.user) };
    } catch (err) {
      // created meanwhile (a retry whose first create did land): use that one
      if (err instanceof ValidationError && err.issues.some((i) => /already exists/i.test(i.message))) {
        const raced = await findOpen(input, headFilter);
        if (raced) return update(raced);
      }
      throw err;
    }
  }

  async function requiredChecksGreen(input: RepoRef & { ref: string; required?: readonly string[] }): Promise<ChecksState> {
    checkRepo(input);
    if (input.ref.trim() === '' || CONTROL.test(input.ref)) throw new ValidationError('invalid ref', [{ path: 'ref', message: 'must be a sha or a ref' }]);
    const { data: combined } = await call(`reading the statuses of ${input.ref}`, () =>
      octokit.rest.repos.getCombinedStatusForRef({ owner: input.owner, repo: input.repo, ref: input.ref, per_page: 100 }));
    const runs = await call(`reading the check runs of ${input.ref}`, () =>
      octokit.paginate(octokit.rest.checks.listForRef, { owner: input.owner, repo: input.repo, ref: input.ref, per_page: 100, filter: 'latest' }));
    const pending = new Set<string>();
    const failing = new Set<string>();
    const seen = new Set<string>();
    for (const s of combined.statuses) {
      seen.add(s.context);
      if (s.state === 'pending') pending.add(s.context);
      else if (s.state !== 'success') failing.add(s.context);
    }
    // a check re-run leaves the older run in the list: the newest one of a name counts
    const latest = new Map<string, (typeof runs)[number]>();
    for (const run of runs) {
      const prev = latest.get(run.name);
      if (!prev || run.id > prev.id) latest.set(run.name, run);
    }
    for (const run of latest.values()) {
      seen.add(run.name);
      if (run.status !== 'completed') pending.add(run.name);
      else if (!SUCCESS.has(run.conclusion ?? '')) failing.add(run.name);
    }
    for (const name of input.required ?? []) if (!seen.has(name)) pending.add(name);
    return { green: pending.size === 0 && failing.size === 0, pending: [...pending].sort(), failing: [...failing].sort() };
  }

  async function mergePullRequest(input: RepoRef & { number: number; method: MergeMethod; sha?: string; commitTitle?: string }) {
    checkRepo(input);
    if (!Number.isSafeInteger(input.number) || input.number < 1) throw new ValidationError('invalid pull request number', [{ path: 'number', message: 'must be a whole number ≥ 1' }]);
    if (!['merge', 'squash', 'rebase'].includes(input.method)) throw new ValidationError('invalid merge method', [{ path: 'method', message: 'must be merge, squash or rebase' }]);
    if (input.sha !== undefined && !/^[0-9a-f]{40}$/.test(input.sha)) throw new ValidationError('invalid sha', [{ path: 'sha', message: 'must be a full 40-character sha' }]);
    const what = `merging pull request #${input.number}`;
    try {
      const { data } = await octokit.rest.pulls.merge({
        owner: input.owner, repo: input.repo, pull_number: input.number, merge_method: input.method,
        ...(input.sha ? { sha: input.sha } : {}),
        ...(input.commitTitle ? { commit_title: input.commitTitle } : {}),
      });
      return { merged: data.merged, sha: data.sha };
    } catch (err) {
      if (!isHttpFailure(err) || (err.status !== 405 && err.status !== 409)) throw githubFailure(err, what);
      if (err.status === 409) {
        throw new NonRetriableError('not_mergeable', `${what}: the head branch moved since ${input.sha ?? 'it was checked'} (${err.message}); check it again`, { cause: err });
      }
      // 405: already merged (a retried step), in conflict, or blocked (reviews, checks): ask
      const { data: pr } = await call(`reading pull request #${input.number}`, () =>
        octokit.rest.pulls.get({ owner: input.owner, repo: input.repo, pull_number: input.number }));
      if (pr.merged && pr.merge_commit_sha) return { merged: true, sha: pr.merge_commit_sha };
      if (pr.mergeable === false || pr.mergeable_state === 'dirty') {
        throw new NonRetriableError('git_conflict', `${what}: ${input.owner}/${input.repo}#${input.number} has conflicts with ${pr.base.ref}`, { cause: err });
      }
      throw new NonRetriableError('not_mergeable', `${what}: GitHub refuses the merge (${err.message}; state ${pr.mergeable_state})`, { cause: err });
    }
  }

  async function createTag(input: RepoRef & { tag: string; sha: string }) {
    checkRepo(input);
    const issues: Issue[] = [];
    const problem = gitBranchProblem(input.tag);
    if (problem) issues.push({ path: 'tag', message: problem });
    if (!/^[0-9a-f]{40}$/.test(input.sha)) issues.push({ path: 'sha', message: 'must be a full 40-character sha' });
    if (issues.length > 0) throw new ValidationError('invalid tag', issues);
    const ref = `refs/tags/${input.tag}`;
    try {
      await call(`creating tag ${input.tag}`, () => octokit.rest.git.createRef({ owner: input.owner, repo: input.repo, ref, sha: input.sha }));
      return { ref, sha: input.sha, created: true };
    } catch (err) {
      if (!(err instanceof ValidationError) || !err.issues.some((i) => /already exists/i.test(i.message)) && !/already exists/i.test(err.message)) throw err;
      const { data } = await call(`reading tag ${input.tag}`, () => octokit.rest.git.getRef({ owner: input.owner, repo: input.repo, ref: `tags/${input.tag}` }));
      if (data.object.sha === input.sha) return { ref, sha: input.sha, created: false };
      throw new NonRetriableError('tag_exists', `tag ${input.tag} already exists at ${data.object.sha}, not at ${input.sha}`);
    }
  }

  return { ensurePullRequest, requiredChecksGreen, mergePullRequest, createTag };
}

/** A GitHub login as GitHub spells them (1–39 of letters, digits, `-`; `[bot]` for apps), else none. */
function loginOf(user: { login?: unknown } | null | undefined): string | null {
  const login = user?.login;
  return typeof login === 'string' && /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$/.test(login) ? login : null;
}
