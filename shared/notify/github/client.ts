// The GitHub REST calls the notifier makes, over Octokit, with a token or as a GitHub App
// (a JWT signed with the App's private key buys an installation access token, cached until
// shortly before it expires). Each request has a timeout and is tried ONCE: waiting out a
// rate limit or an outage is the ledger's job (the delivery is due again later), never a
// sleep here, so no lease outlives its send. Failures are our errors (githubFailure):
// RetryableError with GitHub's wait for a rate limit, RetryableError for 5xx and network
// failures, NonRetriableError/ValidationError for what will not get better.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import { SignJWT } from 'jose';
import type { GitHubNotifyConfig } from '../../config/index.js';
import { githubFailure } from '../../agent/github/client.js';
import type { CommitState } from './render.js';

export interface Repo {
  readonly owner: string;
  readonly repo: string;
}

export interface CommentRef {
  readonly id: number;
  readonly body: string;
}

export interface GitHubNotifyClient {
  /** The first comment on the issue whose body starts with `marker` (oldest first). */
  findComment(r: Repo, issue: number, marker: string): Promise<CommentRef | undefined>;
  createComment(r: Repo, issue: number, body: string): Promise<number>;
  /** False when the comment is gone (deleted by someone): the caller creates it again. */
  updateComment(r: Repo, commentId: number, body: string): Promise<boolean>;
  createStatus(r: Repo, sha: string, status: { state: CommitState; context: string; description: string; targetUrl?: string }): Promise<void>;
}

const QUIET = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
/** An installation token lives an hour; it is renewed this long before it ends. */
const RENEW_BEFORE_MS = 5 * 60_000;
const MAX_COMMENT_PAGES = 30;

export function repoOf(repository: string): Repo {
  const [owner = '', repo = ''] = repository.split('/');
  return { owner, repo };
}

const isNotFound = (err: unknown) => typeof err === 'object' && err !== null && (err as { status?: unknown }).status === 404;

/** Credentials per repository: the token, or the App's installation token for it. */
export function createTokenSource(cfg: GitHubNotifyConfig, timeoutMs: number, now: () => number = Date.now): (r: Repo) => Promise<string> {
  const auth = cfg.auth;
  if (auth.kind === 'token') return async () => auth.token.reveal();
  let key: KeyObject | undefined;
  const installations = new Map<string, Promise<number>>();
  const tokens = new Map<number, Promise<{ token: string; expiresAt: number }>>();
  const appClient = async () => {
    key ??= createPrivateKey(auth.privateKey.reveal());
    const at = Math.floor(now() / 1000);
    // iat a minute back and a 9-minute life, as GitHub asks (clocks drift)
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setIssuer(String(auth.appId)).setIssuedAt(at - 60).setExpirationTime(at + 540).sign(key);
    return new Octokit({ auth: jwt, baseUrl: cfg.apiUrl, userAgent: 'facteur', log: QUIET, request: { signal: AbortSignal.timeout(timeoutMs) } });
  };
  const installationOf = (r: Repo): Promise<number> => {
    if (auth.installationId !== undefined) return Promise.resolve(auth.installationId);
    const name = `${r.owner}/${r.repo}`.toLowerCase();
    let found = installations.get(name);
    if (!found) {
      found = (async () => (await (await appClient()).request('GET /repos/{owner}/{repo}/installation', { ...r })).data.id)();
      installations.set(name, found);
      found.catch(() => installations.delete(name));
    }
    return found;
  };
  return async (r) => {
    try {
      const id = await installationOf(r);
      let entry = tokens.get(id);
      const current = entry ? await entry.catch(() => undefined) : undefined;
      if (!current || current.expiresAt - RENEW_BEFORE_MS <= now()) {
        entry = (async () => {
          const { data } = await (await appClient()).request('POST /app/installations/{installation_id}/access_tokens', { installation_id: id });
          return { token: data.token, expiresAt: Date.parse(data.expires_at) };
        })();
        tokens.set(id, entry);
        entry.catch(() => tokens.delete(id));
      }
      return (await entry!).token;
    } catch (err) {
      throw githubFailure(err, `authenticating as GitHub App ${auth.appId} for ${r.owner}/${r.repo}`);
    }
  };
}

export function createNotifyClient(cfg: GitHubNotifyConfig, timeoutMs: number, tokenFor: (r: Repo) => Promise<string>): GitHubNotifyClient {
  const octokitFor = async (r: Repo) =>
    new Octokit({ auth: await tokenFor(r), baseUrl: cfg.apiUrl, userAgent: 'facteur', log: QUIET, request: { signal: AbortSignal.timeout(timeoutMs) } });
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw githubFailure(err, what);
    }
  };
  return {
    async findComment(r, issue, marker) {
      const octokit = await octokitFor(r);
      for (let page = 1; page <= MAX_COMMENT_PAGES; page++) {
        const { data } = await call(`listing the comments of ${r.owner}/${r.repo}#${issue}`, () =>
          octokit.rest.issues.listComments({ ...r, issue_number: issue, per_page: 100, page }));
        const hit = data.find((c) => typeof c.body === 'string' && c.body.startsWith(marker));
        if (hit) return { id: hit.id, body: hit.body ?? '' };
        if (data.length < 100) return undefined;
      }
      return undefined;
    },
    async createComment(r, issue, body) {
      const octokit = await octokitFor(r);
      const { data } = await call(`commenting on ${r.owner}/${r.repo}#${issue}`, () => octokit.rest.issues.createComment({ ...r, issue_number: issue, body }));
      return data.id;
    },
    async updateComment(r, commentId, body) {
      const octokit = await octokitFor(r);
      try {
        await octokit.rest.issues.updateComment({ ...r, comment_id: commentId, body });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw githubFailure(err, `editing comment ${commentId} on ${r.owner}/${r.repo}`);
      }
    },
    async createStatus(r, sha, s) {
      const octokit = await octokitFor(r);
      await call(`setting the ${s.context} status of ${r.owner}/${r.repo}@${sha.slice(0, 12)}`, () =>
        octokit.rest.repos.createCommitStatus({ ...r, sha, state: s.state, context: s.context, description: s.description, ...(s.targetUrl ? { target_url: s.targetUrl } : {}) }));
    },
  };
}
