// FAKE GitHub and Discord: a real HTTP server implementing the endpoints the notifiers use
// (issue comments, commit statuses, a GitHub App's installation and access tokens, a Discord
// webhook), at the outermost boundary. It keeps what it was sent, checks credentials (the
// App's JWT against the App's public key), and can be told to answer rate limits or 502s, or
// to stop listening altogether (connections refused), then start again on the same port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importSPKI, jwtVerify } from 'jose';

export interface Comment {
  id: number;
  issue: string;
  body: string;
  edits: number;
}

export interface Seen {
  at: number;
  method: string;
  path: string;
  status: number;
  body: any;
  auth: string | undefined;
}

/** What the next matching request gets instead of a normal answer. */
export interface Fault {
  readonly match: RegExp;
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

export interface FakeRemotes {
  readonly url: string;
  readonly githubUrl: string;
  readonly discordUrl: string;
  readonly comments: Map<number, Comment>;
  readonly statuses: { repo: string; sha: string; state: string; context: string; description: string; target_url?: string }[];
  readonly messages: { content: string; allowed_mentions: unknown; id: string; at: number }[];
  readonly seen: Seen[];
  /** Faults used once each, in order, by the first request they match. */
  readonly faults: Fault[];
  /** Every GitHub request answers 502 while set. */
  down: boolean;
  /** Each answer waits this long (widens the window of a race). */
  delayMs: number;
  /** Answers computed at once but sent only once `until` settles, each used once by the first request it matches. */
  readonly lateAnswers: { match: RegExp; until: Promise<unknown> }[];
  /** A GitHub App: its id and public key (SPKI PEM); tokens it hands out live `tokenTtlS`. */
  app?: { id: number; publicKey: string; installationId: number; tokenTtlS: number };
  /** Stops listening (connections refused) until `start()`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export const FAKE_TOKEN = 'fake-github-token';

export async function startFakeRemotes(): Promise<FakeRemotes> {
  let nextId = 1000;
  let port = 0;
  let server: Server | undefined;
  const issued = new Set<string>([FAKE_TOKEN]);
  const fake: FakeRemotes = {
    url: '', githubUrl: '', discordUrl: '',
    comments: new Map(), statuses: [], messages: [], seen: [], faults: [], lateAnswers: [], down: false, delayMs: 0,
    async stop() {
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
    },
    async start() {
      server = createServer((req, res) => void handle(req, res));
      await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    },
    close() {
      return fake.stop();
    },
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body === undefined ? '' : JSON.stringify(body));
    return status;
  };

  async function appAuthorized(auth: string | undefined): Promise<boolean> {
    if (!fake.app || !auth?.toLowerCase().startsWith('bearer ')) return false;
    try {
      const { payload } = await jwtVerify(auth.slice(7), await importSPKI(fake.app.publicKey, 'RS256'), { algorithms: ['RS256'] });
      return payload.iss === String(fake.app.id);
    } catch {
      return false;
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string, body: any): Promise<number> {
    const auth = req.headers.authorization;
    const m = (re: RegExp) => re.exec(path);
    let hit: RegExpExecArray | null;
    if ((hit = m(/^\/discord\/webhooks\/\d+\/[\w-]+$/)) && req.method === 'POST') {
      const id = String(nextId++);
      fake.messages.push({ content: body.content, allowed_mentions: body.allowed_mentions, id, at: Date.now() });
      return send(res, 200, { id, content: body.content });
    }
    if (!path.startsWith('/github/')) return send(res, 404, { message: 'Not Found' });
    if (fake.down) return send(res, 502, { message: 'Bad Gateway' });
    const gh = path.slice('/github'.length);
    if ((hit = m(/^\/github\/repos\/([^/]+\/[^/]+)\/installation$/)) && req.method === 'GET') {
      if (!(await appAuthorized(auth))) return send(res, 401, { message: 'A JSON web token could not be decoded' });
      return send(res, 200, { id: fake.app!.installationId });
    }
    if ((hit = m(/^\/github\/app\/installations\/(\d+)\/access_tokens$/)) && req.method === 'POST') {
      if (!(await appAuthorized(auth))) return send(res, 401, { message: 'A JSON web token could not be decoded' });
      if (Number(hit[1]) !== fake.app!.installationId) return send(res, 404, { message: 'Not Found' });
      const token = `ghs_${nextId++}`;
      issued.add(token);
      return send(res, 201, { token, expires_at: new Date(Date.now() + fake.app!.tokenTtlS * 1000).toISOString() });
    }
    const presented = auth?.replace(/^(token|bearer)\s+/i, '');
    if (!presented || !issued.has(presented)) return send(res, 401, { message: 'Bad credentials' });
    if ((hit = m(/^\/github\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/))) {
      const issue = `${hit[1]}#${hit[2]}`;
      if (req.method === 'POST') {
        const c = { id: nextId++, issue, body: body.body, edits: 0 };
        fake.comments.set(c.id, c);
        return send(res, 201, { id: c.id, body: c.body });
      }
      const q = new URL(`http://x${req.url}`).searchParams;
      const per = Number(q.get('per_page') ?? 30);
      const page = Number(q.get('page') ?? 1);
      const all = [...fake.comments.values()].filter((c) => c.issue === issue).sort((a, b) => a.id - b.id);
      return send(res, 200, all.slice((page - 1) * per, page * per).map((c) => ({ id: c.id, body: c.body, user: { login: 'facteur[bot]', type: 'Bot' } })));
    }
    if ((hit = m(/^\/github\/repos\/([^/]+\/[^/]+)\/issues\/comments\/(\d+)$/)) && req.method === 'PATCH') {
      const c = fake.comments.get(Number(hit[2]));
      if (!c) return send(res, 404, { message: 'Not Found' });
      c.body = body.body;
      c.edits += 1;
      return send(res, 200, { id: c.id, body: c.body });
    }
    if ((hit = m(/^\/github\/repos\/([^/]+\/[^/]+)\/statuses\/([0-9a-f]{40})$/)) && req.method === 'POST') {
      fake.statuses.push({ repo: hit[1]!, sha: hit[2]!, ...body });
      return send(res, 201, { id: nextId++, state: body.state });
    }
    return send(res, 404, { message: `Not Found: ${req.method} ${gh}` });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text ? JSON.parse(text) : undefined;
    const path = new URL(`http://x${req.url}`).pathname;
    const seen: Seen = { at: Date.now(), method: req.method ?? '', path, status: 0, body, auth: req.headers.authorization };
    fake.seen.push(seen);
    if (fake.delayMs > 0) await new Promise((r) => setTimeout(r, fake.delayMs));
    const i = fake.faults.findIndex((f) => f.match.test(`${req.method} ${path}`));
    if (i >= 0) {
      const [f] = fake.faults.splice(i, 1);
      seen.status = send(res, f!.status, f!.body ?? { message: 'fault' }, f!.headers);
      return;
    }
    const late = fake.lateAnswers.findIndex((l) => l.match.test(`${req.method} ${path}`));
    if (late >= 0) {
      // the answer is decided now (what the state is now), and reaches the client later
      const { until } = fake.lateAnswers.splice(late, 1)[0]!;
      const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
      res.end = ((...a: unknown[]) => (void until.finally(() => end(...a)), res)) as typeof res.end;
    }
    seen.status = await route(req, res, path, body);
  }

  await fake.start();
  const url = `http://127.0.0.1:${port}`;
  Object.assign(fake, { url, githubUrl: `${url}/github`, discordUrl: `${url}/discord/webhooks/123/secret-webhook-token` });
  return fake;
}

/** The requests that changed something on GitHub (comments created or edited, statuses). */
export const writes = (fake: FakeRemotes) => fake.seen.filter((s) => s.path.startsWith('/github/') && s.method !== 'GET' && s.status < 300 && !s.path.includes('/app/'));

/** The notifiers' variables pointing at the FAKE, without pacing, with short retries. */
export function notifyEnv(remotes: FakeRemotes, extra: Record<string, string> = {}): Record<string, string> {
  return {
    FACTEUR_GITHUB_NOTIFY: 'true',
    FACTEUR_GITHUB_TOKEN: FAKE_TOKEN,
    FACTEUR_GITHUB_API_URL: remotes.githubUrl,
    FACTEUR_GITHUB_MIN_INTERVAL_MS: '0',
    FACTEUR_DISCORD_WEBHOOK_URL: remotes.discordUrl,
    FACTEUR_DISCORD_MIN_INTERVAL_MS: '0',
    FACTEUR_DASHBOARD_URL: 'https://facteur.example/dash',
    FACTEUR_NOTIFY_RETRY_BASE_MS: '50',
    ...extra,
  };
}
