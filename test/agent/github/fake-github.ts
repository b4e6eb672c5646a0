// A FAKE GitHub REST API (node:http) for the GitHub client's tests — GitHub itself cannot be
// reached from here. It implements only the endpoints the client uses, and is strict about
// what the GitHub REST docs say a request looks like: the method and path, the JSON fields
// each endpoint takes (an unknown field is answered 400, so a misspelt field fails the test
// instead of being silently ignored as GitHub would), `authorization: token|Bearer <token>`,
// an `accept` header for the GitHub media type or JSON, a user agent, and
// `content-type: application/json` on writes. Failures (rate limits, 5xx) can be queued.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakePull {
  number: number;
  title: string;
  body: string;
  head: string;
  base: string;
  headSha: string;
  state: 'open' | 'closed';
  merged: boolean;
  mergeable: boolean | null;
  mergeableState: string;
  mergeCommitSha: string | null;
  /** Who opened it: the account the token belongs to. */
  author: string;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly headers: IncomingMessage['headers'];
  readonly body: unknown;
}

export interface QueuedFailure {
  readonly method?: string;
  readonly path?: RegExp;
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

interface FakeRepo {
  pulls: FakePull[];
  statuses: Map<string, { context: string; state: string }[]>;
  checkRuns: Map<string, { id: number; name: string; status: string; conclusion: string | null }[]>;
  refs: Map<string, string>;
}

export interface FakeGitHub {
  readonly url: string;
  readonly requests: RecordedRequest[];
  addRepo(fullName: string): void;
  repo(fullName: string): FakeRepo;
  queueFailure(f: QueuedFailure): void;
  /** Drops the queued failures not consumed yet. */
  clearFailures(): void;
  close(): Promise<void>;
}

const sha = (s: string) => createHash('sha1').update(s).digest('hex');

// the JSON fields each write endpoint takes, per the GitHub REST docs
const FIELDS: Record<string, readonly string[]> = {
  'POST pulls': ['title', 'head', 'head_repo', 'base', 'body', 'maintainer_can_modify', 'draft', 'issue'],
  'PATCH pull': ['title', 'body', 'state', 'base', 'maintainer_can_modify'],
  'PUT merge': ['commit_title', 'commit_message', 'sha', 'merge_method'],
  'POST refs': ['ref', 'sha'],
};

/** `login`: the account the token belongs to, the author of every pull request it opens. */
export async function startFakeGitHub(token: string, login = 'facteur-bot'): Promise<FakeGitHub> {
  const repos = new Map<string, FakeRepo>();
  const requests: RecordedRequest[] = [];
  const failures: QueuedFailure[] = [];
  let nextPull = 1;
  let base = '';

  const pullJson = (fullName: string, p: FakePull) => ({
    url: `${base}/repos/${fullName}/pulls/${p.number}`,
    html_url: `https://github.fake/${fullName}/pull/${p.number}`,
    number: p.number,
    state: p.state,
    title: p.title,
    body: p.body,
    head: { ref: p.head, sha: p.headSha, label: `${fullName.split('/')[0]}:${p.head}` },
    base: { ref: p.base, label: `${fullName.split('/')[0]}:${p.base}` },
    merged: p.merged,
    mergeable: p.mergeable,
    mergeable_state: p.mergeableState,
    merge_commit_sha: p.mergeCommitSha,
    user: { login: p.author, type: 'User' },
  });

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(body === undefined ? '' : JSON.stringify(body));
  };

  function handle(req: IncomingMessage, res: ServerResponse, raw: string) {
    const u = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const path = u.pathname;
    let body: unknown;
    if (raw !== '') {
      if (!/^application\/json/.test(req.headers['content-type'] ?? '')) return send(res, 415, { message: 'fake: body must be application/json' });
      try {
        body = JSON.parse(raw);
      } catch {
        return send(res, 400, { message: 'Problems parsing JSON' });
      }
    }
    requests.push({ method, path, query: Object.fromEntries(u.searchParams), headers: req.headers, body });

    const auth = req.headers.authorization ?? '';
    if (!new RegExp(`^(token|bearer) ${token}$`, 'i').test(auth)) return send(res, 401, { message: 'Bad credentials' });
    if (!/application\/(vnd\.github[^,]*|json)/.test(req.headers.accept ?? '')) return send(res, 415, { message: 'fake: accept must name the GitHub media type or JSON' });
    if (!req.headers['user-agent']) return send(res, 403, { message: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header' });

    const failure = failures.findIndex((f) => (!f.method || f.method === method) && (!f.path || f.path.test(path)));
    if (failure >= 0) {
      const [f] = failures.splice(failure, 1);
      return send(res, f!.status, f!.body ?? { message: `fake failure ${f!.status}` }, f!.headers);
    }

    const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)$/.exec(path);
    if (!m) return send(res, 404, { message: 'Not Found' });
    const fullName = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
    const repo = repos.get(fullName);
    if (!repo) return send(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    const rest = m[3]!;
    const fields = (key: string): string | undefined => {
      const allowed = FIELDS[key]!;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'fake: the body must be a JSON object';
      const extra = Object.keys(body).filter((k) => !allowed.includes(k));
      return extra.length > 0 ? `fake: ${key} takes no field ${extra.join(', ')}` : undefined;
    };
    const b = (body ?? {}) as Record<string, unknown>;

    if (rest === '/pulls' && method === 'GET') {
      let list = repo.pulls.filter((p) => (u.searchParams.get('state') ?? 'open') === 'all' || p.state === (u.searchParams.get('state') ?? 'open'));
      const head = u.searchParams.get('head');
      if (head !== null) {
        if (!/^[^:]+:.+$/.test(head)) return send(res, 422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }] });
        list = list.filter((p) => `${fullName.split('/')[0]}:${p.head}` === head);
      }
      const baseRef = u.searchParams.get('base');
      if (baseRef !== null) list = list.filter((p) => p.base === baseRef);
      return send(res, 200, list.map((p) => pullJson(fullName, p)));
    }
    if (rest === '/pulls' && method === 'POST') {
      const bad = fields('POST pulls');
      if (bad) return send(res, 400, { message: bad });
      const missing = ['head', 'base'].filter((k) => typeof b[k] !== 'string' || b[k] === '');
      if (missing.length > 0) return send(res, 422, { message: 'Validation Failed', errors: missing.map((field) => ({ resource: 'PullRequest', field, code: 'missing_field' })) });
      if (typeof b.title !== 'string' || b.title === '') return send(res, 422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', field: 'title', code: 'missing_field' }] });
      const head = String(b.head).replace(/^[^:]+:/, '');
      if (repo.pulls.some((p) => p.state === 'open' && p.head === head && p.base === b.base)) {
        return send(res, 422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${fullName.split('/')[0]}:${head}.` }] });
      }
      const p: FakePull = {
        number: nextPull++, title: b.title, body: typeof b.body === 'string' ? b.body : '', head, base: String(b.base),
        headSha: sha(`${fullName}:${head}`), state: 'open', merged: false, mergeable: true, mergeableState: 'clean', mergeCommitSha: null, author: login,
      };
      repo.pulls.push(p);
      return send(res, 201, pullJson(fullName, p));
    }
    const pm = /^\/pulls\/(\d+)(\/merge)?$/.exec(rest);
    if (pm) {
      const p = repo.pulls.find((x) => x.number === Number(pm[1]));
      if (!p) return send(res, 404, { message: 'Not Found' });
      if (!pm[2] && method === 'GET') return send(res, 200, pullJson(fullName, p));
      if (!pm[2] && method === 'PATCH') {
        const bad = fields('PATCH pull');
        if (bad) return send(res, 400, { message: bad });
        if (typeof b.title === 'string') p.title = b.title;
        if (typeof b.body === 'string') p.body = b.body;
        return send(res, 200, pullJson(fullName, p));
      }
      if (pm[2] && method === 'PUT') {
        const bad = fields('PUT merge');
        if (bad) return send(res, 400, { message: bad });
        if (b.merge_method !== undefined && !['merge', 'squash', 'rebase'].includes(String(b.merge_method))) {
          return send(res, 422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', field: 'merge_method', code: 'invalid' }] });
        }
        if (p.merged || p.mergeable === false || p.mergeableState === 'blocked' || p.state !== 'open') return send(res, 405, { message: 'Pull Request is not mergeable' });
        if (b.sha !== undefined && b.sha !== p.headSha) return send(res, 409, { message: 'Head branch was modified. Review and try the merge again.' });
        p.merged = true;
        p.state = 'closed';
        p.mergeCommitSha = sha(`merge ${fullName}#${p.number} ${String(b.merge_method ?? 'merge')}`);
        return send(res, 200, { sha: p.mergeCommitSha, merged: true, message: 'Pull Request successfully merged' });
      }
    }
    const cm = /^\/commits\/([^/]+)\/(status|check-runs)$/.exec(rest);
    if (cm && method === 'GET') {
      const ref = decodeURIComponent(cm[1]!);
      if (cm[2] === 'status') {
        const statuses = repo.statuses.get(ref) ?? [];
        const state = statuses.some((s) => s.state === 'failure' || s.state === 'error') ? 'failure'
          : statuses.length === 0 || statuses.some((s) => s.state === 'pending') ? 'pending' : 'success';
        return send(res, 200, { state, sha: sha(ref), total_count: statuses.length, statuses });
      }
      const runs = repo.checkRuns.get(ref) ?? [];
      return send(res, 200, { total_count: runs.length, check_runs: runs });
    }
    if (rest === '/git/refs' && method === 'POST') {
      const bad = fields('POST refs');
      if (bad) return send(res, 400, { message: bad });
      if (typeof b.ref !== 'string' || !b.ref.startsWith('refs/') || typeof b.sha !== 'string') {
        return send(res, 422, { message: 'Validation Failed', errors: [{ resource: 'Reference', field: 'ref', code: 'invalid' }] });
      }
      if (repo.refs.has(b.ref)) return send(res, 422, { message: 'Reference already exists' });
      repo.refs.set(b.ref, b.sha);
      return send(res, 201, { ref: b.ref, object: { sha: b.sha, type: 'commit' } });
    }
    const rm = /^\/git\/ref\/(.+)$/.exec(rest);
    if (rm && method === 'GET') {
      const ref = `refs/${decodeURIComponent(rm[1]!)}`;
      const at = repo.refs.get(ref);
      return at ? send(res, 200, { ref, object: { sha: at, type: 'commit' } }) : send(res, 404, { message: 'Not Found' });
    }
    return send(res, 404, { message: `fake: no endpoint ${method} ${path}` });
  }

  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => handle(req, res, raw));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    addRepo(fullName) {
      repos.set(fullName, { pulls: [], statuses: new Map(), checkRuns: new Map(), refs: new Map() });
    },
    repo(fullName) {
      const r = repos.get(fullName);
      if (!r) throw new Error(`fake: no repo ${fullName}`);
      return r;
    },
    queueFailure(f) {
      failures.push(f);
    },
    clearFailures() {
      failures.length = 0;
    },
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
