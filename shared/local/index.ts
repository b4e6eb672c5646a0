// Local mode: the whole system in one process, for a newcomer's first minute and for the
// end-to-end tests. Production runs each function alone (functions/server.ts).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FUNCTIONS, type FunctionName } from '../../functions/index.js';
import { sealAudit } from '../audit/index.js';
import { loadConfig, type Config } from '../config/index.js';
import { connect, migrate, type Sql } from '../db/index.js';
import { errorBody, type Handler } from '../http/index.js';
import { readRequest, writeResponse } from '../http/node.js';
import { createLogger, type Logger } from '../log/index.js';

export interface LocalOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log?: Logger;
}

export interface Local {
  readonly url: string;
  readonly config: Config;
  readonly sql: Sql;
  close(): Promise<void>;
}

export async function startLocal(opts: LocalOptions): Promise<Local> {
  const started = Date.now();
  const config = loadConfig(opts.env);
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

  const deps = { sql, config, log };
  const handlers = new Map<string, Handler>();
  for (const name of Object.keys(FUNCTIONS) as FunctionName[]) handlers.set(name, FUNCTIONS[name](deps));

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
      .then((out) => writeResponse(res, out))
      .catch((err) => {
        log.error('local server: request failed', { err });
        if (!res.headersSent) writeResponse(res, { status: 500, body: errorBody('internal', 'internal error') });
      });
  });
  await new Promise<void>((resolve) => server.listen(config.port, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  closers.unshift(() => new Promise<void>((resolve) => server.close(() => resolve())));

  // The audit log is sealed in batches; in a cluster the dispatch tick does it.
  const sealer = setInterval(() => {
    sealAudit(sql).catch((err) => log.warn('audit seal failed', { err }));
  }, 10_000);
  sealer.unref();
  closers.unshift(async () => clearInterval(sealer));

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
