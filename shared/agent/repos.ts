// Where the step clones an idea's repository from. An idea names `owner/repo`; the step
// turns that into what `git clone` is given:
//
// - `FACTEUR_LOCAL_REPOS` first: names mapped to local repositories, for local mode and
//   tests (`acme/web=/srv/git/web.git,other=/x`, or the same as a JSON object). Only
//   absolute paths, so what is cloned never depends on the step's working directory.
// - a `file://` URL or an absolute path: that local repository.
// - an `https://`, `http://` or `ssh://` URL: cloned as given.
// - `owner/repo`: `https://github.com/owner/repo.git`, or under `FACTEUR_GIT_BASE_URL`
//   (a GitHub Enterprise or a mirror with the same layout).
//
// What reaches git is checked here, because git reads more than a URL in its argument:
// `ext::sh -c …` runs a command, `--upload-pack=…` is an option, `user:token@host` puts
// a secret in argv, in `.git/config` and in every log. Credentials come from git's
// credential helpers or GH_TOKEN, never from the URL: a URL with userinfo is refused.
import { createHash } from 'node:crypto';
import { isAbsolute, normalize } from 'node:path';
import { ValidationError, type Issue } from '../errors/index.js';
import { repositoryProblem } from '../validation/refs.js';

export type RepositoryKind = 'github' | 'local' | 'url';

export interface ResolvedRepository {
  /** What git clones: a URL or an absolute path. */
  readonly remote: string;
  readonly kind: RepositoryKind;
  readonly owner?: string;
  readonly repo?: string;
  /** A filesystem-safe name for a cache of this remote (a readable part and a hash). */
  readonly key: string;
}

export interface RepositoryEnv {
  readonly FACTEUR_LOCAL_REPOS?: string;
  readonly FACTEUR_GIT_BASE_URL?: string;
}

const GITHUB = 'https://github.com';
const NETWORK_SCHEMES = new Set(['https:', 'http:', 'ssh:']);
/** A single-word name in FACTEUR_LOCAL_REPOS (`sample`), beside `owner/name`. */
const LOCAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export function resolveRepository(repository: string, env: RepositoryEnv): ResolvedRepository {
  const value = typeof repository === 'string' ? repository.trim() : '';
  const fail = (message: string): never => {
    throw new ValidationError(`invalid repository: ${message}`, [{ path: 'repository', message }], 'invalid_repository');
  };
  if (value === '') fail('must not be empty');
  if (hasControl(value)) fail('must not contain control characters');
  if (value.startsWith('-')) fail('must not start with "-" (git would read it as an option)');

  const local = localRepos(env.FACTEUR_LOCAL_REPOS).get(value);
  if (local !== undefined) return withKey({ remote: local, kind: 'local', ...ownerRepo(value) });

  if (value.startsWith('/')) return withKey({ remote: absolutePath(value, fail), kind: 'local' });
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return fromUrl(value, fail);
  // `git@github.com:owner/repo.git`: the scp-like form hides a user name and is not a URL.
  if (/^[^/]*@[^/]*:/.test(value)) fail('the scp-like form user@host:path is not accepted; use ssh://host/path (the user comes from ssh config)');

  const problem = repositoryProblem(value);
  if (problem) fail(`${problem}, a file:// or https:// URL, an absolute path, or a name in FACTEUR_LOCAL_REPOS`);
  const [owner, repo] = value.split('/') as [string, string];
  const base = env.FACTEUR_GIT_BASE_URL?.trim() ? baseUrl(env.FACTEUR_GIT_BASE_URL.trim()) : GITHUB;
  return withKey({ remote: `${base}/${owner}/${repo.replace(/\.git$/, '')}.git`, kind: 'github', owner, repo: repo.replace(/\.git$/, '') });
}

function fromUrl(value: string, fail: (m: string) => never): ResolvedRepository {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail('is not a valid URL');
  }
  if (url.username !== '' || url.password !== '') fail('must not carry credentials (user or password) in the URL; use a git credential helper or GH_TOKEN');
  if (url.search !== '' || url.hash !== '') fail('must not have a query or a fragment');
  if (url.protocol === 'file:') {
    if (url.host !== '' && url.host !== 'localhost') fail('a file:// URL must name a local path (no host)');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return fail('the file:// path is not valid percent-encoding');
    }
    return withKey({ remote: absolutePath(path, fail), kind: 'local' });
  }
  if (!NETWORK_SCHEMES.has(url.protocol)) fail(`the ${url.protocol}// scheme is not accepted (only file, https, http, ssh)`);
  if (url.hostname === '') fail('the URL must name a host');
  const parts = url.pathname.split('/').filter(Boolean);
  const tail = parts.slice(-2);
  return withKey({
    remote: url.href,
    kind: 'url',
    ...(tail.length === 2 ? { owner: tail[0]!, repo: tail[1]!.replace(/\.git$/, '') } : {}),
  });
}

function baseUrl(raw: string): string {
  const issue = (message: string): never => {
    throw new ValidationError(`invalid FACTEUR_GIT_BASE_URL: ${message}`, [{ path: 'FACTEUR_GIT_BASE_URL', message }], 'invalid_config');
  };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return issue('is not a valid URL');
  }
  if (url.username !== '' || url.password !== '') issue('must not carry credentials (user or password)');
  if (url.search !== '' || url.hash !== '') issue('must not have a query or a fragment');
  if (!NETWORK_SCHEMES.has(url.protocol) && url.protocol !== 'file:') issue('must be an https, http, ssh or file URL');
  return url.href.replace(/\/+$/, '');
}

/**
 * FACTEUR_LOCAL_REPOS as a map from name to absolute path. Every problem is listed at
 * once (ValidationError `invalid_config`), since a typo here is found by whoever set it.
 */
export function localRepos(raw: string | undefined): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  if (raw === undefined || raw.trim() === '') return map;
  const issues: Issue[] = [];
  const entries = parseEntries(raw.trim(), issues);
  const seen = new Set<string>();
  for (const [name, path] of entries) {
    const at = `FACTEUR_LOCAL_REPOS.${name}`;
    const twice = seen.has(name);
    seen.add(name);
    if (!LOCAL_NAME.test(name) && repositoryProblem(name) !== undefined) {
      issues.push({ path: at, message: 'the name must be owner/name or a single word (letters, digits, "-", "_", ".")' });
    } else if (twice) {
      issues.push({ path: at, message: 'is mapped twice' });
    } else if (typeof path !== 'string' || path.trim() === '') {
      issues.push({ path: at, message: 'needs a path' });
    } else if (hasControl(path) || !isAbsolute(path.trim())) {
      issues.push({ path: at, message: `must be an absolute path, got ${JSON.stringify(path)}` });
    } else {
      map.set(name, normalize(path.trim()));
    }
  }
  if (issues.length > 0) throw new ValidationError(`invalid FACTEUR_LOCAL_REPOS: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, issues, 'invalid_config');
  return map;
}

function parseEntries(raw: string, issues: Issue[]): [string, unknown][] {
  if (raw.startsWith('{')) {
    try {
      const v: unknown = JSON.parse(raw);
      if (v && typeof v === 'object' && !Array.isArray(v)) return Object.entries(v);
    } catch {
      // reported below
    }
    issues.push({ path: 'FACTEUR_LOCAL_REPOS', message: 'starts with "{" but is not a JSON object of name → path' });
    return [];
  }
  const out: [string, unknown][] = [];
  for (const item of raw.split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) {
      issues.push({ path: 'FACTEUR_LOCAL_REPOS', message: `${JSON.stringify(item.trim())} is not name=/absolute/path` });
      continue;
    }
    out.push([item.slice(0, eq).trim(), item.slice(eq + 1)]);
  }
  return out;
}

function absolutePath(path: string, fail: (m: string) => never): string {
  if (hasControl(path) || !isAbsolute(path)) fail(`must be an absolute path, got ${JSON.stringify(path)}`);
  const normalized = normalize(path);
  return normalized.length > 1 ? normalized.replace(/\/+$/, '') : normalized;
}

function ownerRepo(name: string): { owner?: string; repo?: string } {
  const [owner, repo] = name.split('/');
  return repo === undefined ? {} : { owner: owner!, repo: repo };
}

function hasControl(s: string): boolean {
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  return /[\u0000-\u001f\u007f]/.test(s);
}

/** The cache key: readable (`github.com-acme-web`) and unique (a hash of the remote). */
function withKey(r: Omit<ResolvedRepository, 'key'>): ResolvedRepository {
  const readable = r.remote
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\.git$/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(-60)
    .replace(/^[-.]+/, '');
  const hash = createHash('sha256').update(r.remote).digest('hex').slice(0, 12);
  return Object.freeze({ ...r, key: `${readable || 'repo'}-${hash}` });
}
