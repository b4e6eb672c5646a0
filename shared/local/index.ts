// Local mode: the whole system in one process, for a newcomer's first minute and for the
// end-to-end tests. Production runs each function alone (functions/server.ts).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FUNCTIONS, type FunctionName } from '../../functions/index.js';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tick } from '../dispatch/engine.js';
import type { WorkflowBackend } from '../dispatch/index.js';
import type { OutboxEvent, Publisher } from '../outbox/index.js';
import { createLocalRunner, type LocalRunner } from '../runner/local.js';
import type { HttpRequest } from '../http/index.js';
import { loadConfig, type Config } from '../config/index.js';
import { connect, migrate, type Sql } from '../db/index.js';
import { errorBody, type Handler } from '../http/index.js';
import { readRequest, writeResponse } from '../http/node.js';
import { createLogger, type Logger } from '../log/index.js';

export interface LocalOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log?: Logger;
  /** How often the dispatch tick runs (the PingSource of a cluster); default 1000 ms. */
  readonly tickMs?: number;
  /** Workflow backend; default: the local runner with the example stages. */
  readonly workflows?: WorkflowBackend;
}

/** Local mode's defaults, where the cluster's would make a demo slow. Set them to override. */
const LOCAL_DEFAULTS: Record<string, string> = {
  FACTEUR_MONITOR_WINDOW_S: '10',
  FACTEUR_RETRY_BASE_MS: '1000',
  FACTEUR_RETRY_MAX_MS: '10000',
  FACTEUR_SUBMIT_STALE_S: '5',
  FACTEUR_HEARTBEAT_TIMEOUT_S: '120',
};

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', ...(fileURLToPath(import.meta.url).includes('/dist/') ? ['..'] : []));

export interface Local {
  readonly url: string;
  readonly config: Config;
  readonly sql: Sql;
  close(): Promise<void>;
}

export async function startLocal(opts: LocalOptions): Promise<Local> {
  const started = Date.now();
  const env: Record<string, string | undefined> = { ...LOCAL_DEFAULTS, ...opts.env };
  // Callback tokens need a server secret; a local run makes its own unless one is given.
  env.FACTEUR_CALLBACK_SECRET ||= randomBytes(32).toString('base64url');
  const config = loadConfig(env);
  const log = opts.log ?? createLogger(config.logLevel, { mode: 'local' });
  for (const key of config.unknownKeys) log.warn('unknown configuration variable (typo?)', { key });
  const closers: (() => Promise<void>)[] = [];
  let dbUrl: string;
  let poolSize = config.poolSize;
  let dbLabel: string;
  if (config.databaseUrl) {
    dbUrl = config.databaseUrl.reveal();
    dbLabel = 'PostgreSQL from DATABASE_URL';
  } else {
    const { startEmbedded } = await import('../db/embedded.js');
    const embedded = await startEmbedded(config.dataDir);
    closers.push(() => embedded.close());
    dbUrl = embedded.url;
    // PGlite is a single session: one connection, or transactions would interleave.
    poolSize = 1;
    dbLabel = `embedded PostgreSQL (PGlite + pgvector) in ${embedded.dataDir}`;
  }
  const sql = connect(dbUrl, { max: poolSize, connectTimeoutS: config.connectTimeoutS, applicationName: 'facteur-local' });
  closers.unshift(() => sql.end({ timeout: 5 }));
  const migrated = await migrate(sql);

  let runner: LocalRunner | undefined;
  const workflows: WorkflowBackend =
    opts.workflows ??
    (runner = createLocalRunner({
      stageScript: join(root, 'examples', 'stages', 'run-stage.mjs'),
      // the compiled CLI (`npm start` builds it); from the sources when running uncompiled
      stepBin: existsSync(join(root, 'dist', 'bin', 'facteur-step.js')) ? join(root, 'dist', 'bin', 'facteur-step.js') : join(root, 'bin', 'facteur-step.ts'),
      log,
    }));
  if (runner) closers.unshift(() => runner!.close());
  // In place of Kafka: the outbox is relayed to the dispatch function in this process, as
  // binary-mode CloudEvents, the way the KafkaSource on facteur.events would deliver them;
  // with the static token when one is set (dispatch demands it then, like intake).
  const bus: Publisher = {
    async publish(events) {
      for (const e of events) {
        if (!e.type.startsWith('facteur.idea.') && !e.type.startsWith('facteur.task.')) continue;
        const res = await handlers.get('dispatch')!(busRequest(e, config.intakeToken));
        if (res.status >= 300) throw new Error(`dispatch answered ${res.status}`);
      }
    },
  };
  const handlers = new Map<string, Handler>();
  let url = '';
  const deps = { sql, config, log, workflows, publisher: bus, get callbackBaseUrl() { return `${url}/callbacks`; } };
  for (const name of Object.keys(FUNCTIONS) as FunctionName[]) handlers.set(name, await FUNCTIONS[name](deps));
  let ticking = false;
  const runTick = async () => {
    if (ticking) return;
    ticking = true;
    try {
      await tick(deps);
    } catch (err) {
      log.warn('local tick failed', { err });
    } finally {
      ticking = false;
    }
  };

  const server: Server = createServer((req, res) => {
    const first = /^\/([a-z]+)(\/|$|\?)/.exec(req.url ?? '/')?.[1] ?? '';
    const handler = handlers.get(first);
    if (!handler) {
      if (req.url === '/' || req.url === '/healthz') {
        writeResponse(res, { status: 200, body: { ok: true, functions: [...handlers.keys()].map((n) => `/${n}`) } });
      } else {
        writeResponse(res, { status: 404, body: errorBody('not_found', `no function at ${req.url}; mounted: ${[...handlers.keys()].map((n) => `/${n}`).join(', ')}`) });
      }
      req.resume();
      return;
    }
    readRequest(req, config.maxBodyBytes, `/${first}`)
      .then((r) => handler(r))
      .then((out) => {
        writeResponse(res, out);
        // what intake accepted reaches dispatch at once, not at the next tick
        if (first === 'intake' && out.status < 300) void runTick();
      })
      .catch((err) => {
        log.error('local server: request failed', { err });
        if (!res.headersSent) writeResponse(res, { status: 500, body: errorBody('internal', 'internal error') });
      });
  });
  await new Promise<void>((resolve) => server.listen(config.port, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}`;
  closers.unshift(() => new Promise<void>((resolve) => server.close(() => resolve())));

  // The tick (a PingSource in a cluster): backstops, outbox relay, audit seals, scheduling.
  const ticker = setInterval(() => void runTick(), opts.tickMs ?? 1000);
  ticker.unref();
  closers.unshift(async () => {
    clearInterval(ticker);
    while (ticking) await new Promise((r) => setTimeout(r, 20));
  });

  log.info('Facteur local mode ready', {
    url,
    database: dbLabel,
    dataDir: config.databaseUrl ? null : config.dataDir,
    migrations: { applied: migrated.applied, current: migrated.current },
    functions: [...handlers.keys()].map((n) => `${url}/${n}`),
    auth: { status: config.statusToken ? 'bearer token' : 'open (set FACTEUR_STATUS_TOKEN)', intake: config.intakeToken ? 'bearer token' : 'open (set FACTEUR_INTAKE_TOKEN)' },
    startupMs: Date.now() - started,
  });
  return {
    url,
    config,
    sql,
    async close() {
      for (const c of closers.splice(0)) await c().catch(() => {});
    },
  };
}

function busRequest(e: OutboxEvent, token: Config['intakeToken']): HttpRequest {
  return {
    method: 'POST',
    path: '/',
    query: new URLSearchParams(),
    headers: {
      'ce-specversion': '1.0', 'ce-id': e.eventId, 'ce-type': e.type, 'ce-source': e.source,
      ...(e.subject ? { 'ce-subject': e.subject } : {}), 'ce-time': e.time, 'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token.reveal()}` } : {}),
    },
    body: Buffer.from(JSON.stringify(e.data)),
  };
}
