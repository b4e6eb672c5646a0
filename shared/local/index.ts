// Local mode: the whole system in one process, for a newcomer's first minute and for the
// end-to-end tests. Production runs each function alone (functions/server.ts).
//
// Start: config → the data dir's lock → the port → sweep what a killed predecessor left →
// the database → migrations → settle the runs the predecessor left active → serve → tick.
// Every failure on the way is a StartupError of one line (errors.ts) and undoes what was
// done. Shutdown (close): stop taking requests but keep /callbacks open, stop the tick,
// give running stages a grace period to report, stop the rest and settle their runs, let
// the requests in progress finish, close the pool and the database, release the lock.
import { loadPolicyPacks } from '../policy/store.js';
import { createIdentifier } from '../auth/principal.js';
import { FUNCTIONS, type FunctionName } from '../../functions/index.js';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tick } from '../dispatch/engine.js';
import type { WorkflowBackend } from '../dispatch/index.js';
import type { OutboxEvent, Publisher } from '../outbox/index.js';
import { createLocalRunner, sweepRuns, type LocalRunner, type StageExit } from '../runner/local.js';
import type { HttpRequest } from '../http/index.js';
import { loadConfig, type Config } from '../config/index.js';
import { connect, migrate, type Sql } from '../db/index.js';
import { errorBody, json, type Handler } from '../http/index.js';
import { createLogger, type Logger } from '../log/index.js';
import { databaseStartupError, firstLine, StartupError } from './errors.js';
import { lockDataDir } from './lock.js';
import { activeLocalRuns, activeRunsOf, settleExited, settleInterrupted } from './recover.js';
import { createNotifications } from '../notify/index.js';
import { knowledgeBaseFor } from '../kb/knowledge.js';
import { createLocalServer } from './server.js';
import { DASHBOARD_PATH } from './home.js';
import { ensureSampleRepo } from './sample-repo.js';
import { startPublishSpan } from '../telemetry/messaging.js';
import { startTelemetry } from '../telemetry/index.js';

export { debugStack, firstLine, StartupError, startupLine } from './errors.js';

export interface LocalOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log?: Logger;
  /** How often the dispatch tick runs (the PingSource of a cluster); default 1000 ms. */
  readonly tickMs?: number;
  /** Workflow backend; default: the local runner with the example stages. */
  readonly workflows?: WorkflowBackend;
}

/** The name Idea Specs use for local mode's sample repository. */
export const SAMPLE_REPOSITORY = 'local/sample';

/**
 * What `facteur-agent` reads, as local mode sets it for its stages; the operator's own settings
 * win. OTEL_* too, so the stages export to the same collector (under their own service names).
 */
const PASSED_TO_STAGES = /^(FACTEUR_(AGENT_|GATE_|DEPLOY_|GIT_|MERGE_|TAG_|OUTPUT_CAP|GITHUB_|HEARTBEAT_SECONDS)|GH_TOKEN$|EXAMPLE_|OTEL_(?!SERVICE_NAME$))/;

function stageEnv(env: Readonly<Record<string, string | undefined>>, dataDir: string, sampleBare: string): Record<string, string> {
  const out: Record<string, string> = {
    // the example agent (examples/agent/), in place of a real coding agent
    FACTEUR_AGENT_COMMAND: JSON.stringify([process.execPath, join(root, 'examples', 'agent', 'example-agent.mjs')]),
    FACTEUR_WORK_DIR: join(dataDir, 'work'),
    FACTEUR_HEARTBEAT_SECONDS: '5',
    FACTEUR_GIT_AUTHOR_NAME: 'Facteur local agent',
    FACTEUR_GIT_AUTHOR_EMAIL: 'facteur-agent@localhost',
  };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && PASSED_TO_STAGES.test(k)) out[k] = v;
  // names the agent may be given (API keys of a real agent), by name: FACTEUR_AGENT_ENV
  for (const name of (env.FACTEUR_AGENT_ENV ?? '').split(',').map((n) => n.trim()).filter(Boolean)) {
    const v = env[name];
    if (v !== undefined) out[name] = v;
  }
  const repos = [`${SAMPLE_REPOSITORY}=${sampleBare}`, ...(env.FACTEUR_LOCAL_REPOS ? [env.FACTEUR_LOCAL_REPOS] : [])];
  out.FACTEUR_LOCAL_REPOS = repos.join(',');
  return out;
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
  /** Absolute; holds the lock, the embedded database (pgdata/) and the runs' directories (runs/). */
  readonly dataDir: string;
  /** The clean shutdown; safe to call twice (the same promise). */
  close(): Promise<void>;
  /** A forced stop (a second Ctrl-C): kills the stages, releases the lock, closes nothing else. */
  abort(): void;
}

export async function startLocal(opts: LocalOptions): Promise<Local> {
  const started = Date.now();
  const env: Record<string, string | undefined> = { ...LOCAL_DEFAULTS, ...opts.env };
  // Callback tokens need a server secret; a local run makes its own unless one is given.
  env.FACTEUR_CALLBACK_SECRET ||= randomBytes(32).toString('base64url');
  const config = loadConfig(env);
  const log = opts.log ?? createLogger(config.logLevel, { mode: 'local' });
  for (const key of config.unknownKeys) log.warn('unknown configuration variable (typo?)', { key });
  const dataDir = resolve(config.dataDir);
  const dataDirExisted = existsSync(dataDir);
  const undo: (() => unknown)[] = [];
  try {
    return await start(opts, { config, log, dataDir, started, undo });
  } catch (err) {
    for (const u of undo.reverse()) await Promise.resolve().then(u).catch(() => {});
    // a refused start leaves no trace: not even the data dir it would have created
    if (!dataDirExisted) rmdirQuiet(dataDir);
    throw err;
  }
}

function rmdirQuiet(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (the database was created): keep it
  }
}

interface StartContext {
  readonly config: Config;
  readonly log: Logger;
  readonly dataDir: string;
  readonly started: number;
  readonly undo: (() => unknown)[];
}

async function start(opts: LocalOptions, { config, log, dataDir, started, undo }: StartContext): Promise<Local> {
  const lock = await lockDataDir(dataDir, { port: config.port, log });
  // Traces when an OTLP endpoint is set (the SDK reads its settings from process.env); the
  // functions' spans carry `faas.name`, since one process serves them all here.
  const telemetry = await startTelemetry(opts.env, 'facteur-local');
  if (telemetry) undo.push(() => telemetry.shutdown());
  const releaseOnExit = () => lock.release();
  process.once('exit', releaseOnExit);
  undo.push(() => {
    process.off('exit', releaseOnExit);
    lock.release();
  });
  const server = createLocalServer({ maxBodyBytes: config.maxBodyBytes, log });
  const port = await server.listen(config.port);
  undo.push(() => server.close());
  const url = `http://127.0.0.1:${port}`;
  lock.update(port, url);
  const runsDir = join(dataDir, 'runs');
  const swept = sweepRuns(runsDir, log);
  if (swept.dirs) log.info('removed the run dirs a stopped process left behind', { dirs: swept.dirs, stagesStopped: swept.killed });

  let dbUrl: string;
  let poolSize = config.poolSize;
  let dbLabel: string;
  let closeEmbedded: (() => Promise<void>) | undefined;
  if (config.databaseUrl) {
    dbUrl = config.databaseUrl.reveal();
    dbLabel = 'PostgreSQL from DATABASE_URL';
  } else {
    const { startEmbedded } = await import('../db/embedded.js');
    const embedded = await startEmbedded(dataDir).catch((err: unknown) => {
      throw new StartupError(
        'database_damaged',
        `${firstLine(err)}: the data dir may be damaged (opened by two processes at once, or copied while in use). Restore a backup of ${dataDir}, or start on a fresh one with FACTEUR_DATA_DIR=<another dir> (this one is left as it is)`,
        { cause: err },
      );
    });
    closeEmbedded = () => embedded.close();
    undo.push(closeEmbedded);
    dbUrl = embedded.url;
    // PGlite is a single session: one connection, or transactions would interleave.
    poolSize = 1;
    dbLabel = `embedded PostgreSQL (PGlite + pgvector) in ${embedded.dataDir}`;
  }
  const sql = connect(dbUrl, { max: poolSize, connectTimeoutS: config.connectTimeoutS, applicationName: 'facteur-local' });
  undo.push(() => sql.end({ timeout: 5 }));
  const migrated = await migrate(sql).catch((err: unknown) => {
    throw config.databaseUrl ? databaseStartupError(err, dbUrl) : err;
  });
  await loadPolicyPacks(sql, config.policy.dir);

  let stopping = false;
  let runner: LocalRunner | undefined;
  // The repository a newcomer's ideas work on, made once: `local/sample` (FACTEUR_LOCAL_REPOS).
  const sample = opts.workflows ? undefined : await ensureSampleRepo(dataDir);
  if (sample?.created) log.info('created the sample repository local mode works on', { repository: SAMPLE_REPOSITORY, path: sample.bare });
  // the stages' git caches and worktrees (FACTEUR_WORK_DIR); worktrees go with their runs
  if (sample) mkdirSync(join(dataDir, 'work'), { recursive: true });
  // facteur-agent and facteur-step as this process runs: compiled (`npm start` builds them)
  // or from the TypeScript sources (the tests)
  const compiled = fileURLToPath(import.meta.url).includes('/dist/');
  const bin = (name: string) => (compiled ? join(root, 'dist', 'bin', `${name}.js`) : join(root, 'bin', `${name}.ts`));
  const workflows: WorkflowBackend =
    opts.workflows ??
    (runner = createLocalRunner({
      stageScript: bin('facteur-agent'),
      ...(compiled ? {} : { nodeArgs: ['--import', 'tsx'] }),
      stepBin: bin('facteur-step'),
      env: stageEnv(opts.env, dataDir, sample!.bare),
      log,
      runsDir,
      onExit: (e) => void stageExited(e),
    }));
  if (runner) undo.push(() => runner!.close());
  // In place of Kafka: the outbox is relayed to the dispatch function in this process, as
  // binary-mode CloudEvents, the way the KafkaSource on facteur.events would deliver them;
  // with the static token when one is set (dispatch demands it then, like intake).
  const bus: Publisher = {
    async publish(events) {
      for (const e of events) {
        if (!e.type.startsWith('facteur.idea.') && !e.type.startsWith('facteur.task.')) continue;
        // the event's trace goes along as `ce-traceparent`, as Kafka's record would carry it
        const span = startPublishSpan(e, 'facteur-local-bus');
        const res = await handlers.get('dispatch')!(busRequest(e, config.intakeToken, span.traceparent)).catch((err: unknown) => {
          span.end(err);
          throw err;
        });
        const refused = res.status >= 300 ? new Error(`dispatch answered ${res.status}`) : undefined;
        span.end(refused);
        if (refused) throw refused;
      }
    },
  };
  const handlers = new Map<string, Handler>();
  // The notifiers (GitHub, Discord) when configured: passes in the background after each tick.
  const notifications = createNotifications({ sql, config, log });
  // The knowledge base's pass: ended runs get their reflections and vectors right after the tick that saw them end.
  const knowledge = knowledgeBaseFor({ sql, config, log });
  const deps = { sql, config, log, workflows, publisher: bus, callbackBaseUrl: `${url}/callbacks`, knowledge, ...(notifications ? { notifications } : {}) };
  for (const name of Object.keys(FUNCTIONS) as FunctionName[]) handlers.set(name, await FUNCTIONS[name](deps));
  // while shutting down, relayed events stay in the outbox for the next start
  const dispatch = handlers.get('dispatch')!;
  handlers.set('dispatch', (req) => (stopping ? Promise.resolve(json(503, errorBody('shutting_down', 'local mode is shutting down'))) : dispatch(req)));

  let ticking: Promise<unknown> | undefined;
  const runTick = () => {
    if (ticking || stopping) return;
    ticking = tick(deps)
      .catch((err) => log.warn('local tick failed', { err }))
      .finally(() => {
        ticking = undefined;
        notifications?.nudge();
        knowledge.nudge();
      });
  };
  // A stage that ended without reporting is a failure of that stage: settled now, not
  // after the heartbeat timeout. Stages stopped on purpose are settled by whoever stopped them.
  async function stageExited(e: StageExit): Promise<void> {
    if (e.stopped || stopping) return;
    const how = e.signal ? `was killed (${e.signal})` : `exited with code ${e.code}`;
    const settled = await settleExited({ sql, config }, e.workflow, how).catch((err) => {
      log.warn('local runner: could not settle the run of a stage that exited', { workflow: e.workflow, err });
      return false;
    });
    if (settled) {
      log.warn('local runner: a stage ended without reporting completion; its run failed', { workflow: e.workflow, how, stderr: e.stderr });
      runTick();
    }
  }

  // The runs a killed or restarted predecessor left active: with the lock held and the
  // database embedded in this data dir, no other process can be running them. With
  // DATABASE_URL the database may be shared with other local processes (their runs carry
  // the same namespace), so nothing tells them apart: those wait for the heartbeat timeout.
  let recovered = 0;
  if (!config.databaseUrl) {
    recovered = await settleInterrupted({ sql, config }, await activeLocalRuns(sql, workflows.namespace), 'runner_restarted');
    if (recovered) log.info('settled the runs the previous process left active; their tasks run again now, attempts given back', { runs: recovered });
  } else {
    const active = await activeLocalRuns(sql, workflows.namespace);
    if (active.length) log.info('active local runs found in DATABASE_URL; they may be another process\'s, so they are left to the heartbeat timeout', { runs: active.length, timeoutS: config.lifecycle.heartbeatTimeoutS });
  }

  const functions = [...handlers.keys()];
  const statusAuth = createIdentifier(config).mode;
  server.serve({
    handlers,
    home: {
      url, functions, database: dbLabel, dataDir, pid: process.pid,
      ...(sample ? { sampleRepository: { name: SAMPLE_REPOSITORY, path: sample.bare } } : {}),
      statusAuth, intakeToken: config.intakeToken !== undefined,
    },
    // what intake accepted reaches dispatch at once, not at the next tick
    answered: (fn, res) => {
      if (fn === 'intake' && res.status < 300) runTick();
    },
  });
  // The tick (a PingSource in a cluster): backstops, outbox relay, audit seals, scheduling.
  const ticker = setInterval(runTick, opts.tickMs ?? 1000);
  ticker.unref();
  undo.push(() => clearInterval(ticker));
  if (recovered) runTick();

  log.info('Facteur local mode ready', {
    url,
    dashboard: `${url}${DASHBOARD_PATH}`,
    database: dbLabel,
    dataDir,
    migrations: { applied: migrated.applied, current: migrated.current },
    functions: functions.map((n) => `${url}/${n}`),
    auth: { status: statusAuth === 'open' ? 'open (set FACTEUR_API_TOKENS or FACTEUR_STATUS_TOKEN)' : statusAuth, intake: config.intakeToken ? 'bearer token' : 'open (set FACTEUR_INTAKE_TOKEN)' },
    startupMs: Date.now() - started,
  });

  const graceMs = config.shutdownGraceS * 1000;
  const shutdown = async () => {
    const t0 = Date.now();
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        log.warn(`shutdown: ${what} failed`, { err });
      }
    };
    stopping = true;
    server.drain();
    // from now on the runner starts nothing (successors of what completes wait for the next start)
    const running = runner?.running() ?? [];
    const draining = runner?.drain(graceMs);
    log.info('shutdown: refusing new requests (/callbacks stays open for the stages still running)');
    clearInterval(ticker);
    await ticking;
    log.info('shutdown: tick stopped');
    await step('stopping the stages', async () => {
      if (!runner || !draining) return;
      if (running.length) log.info(`shutdown: waiting up to ${config.shutdownGraceS}s for ${running.length} running stage(s) to report`, { workflows: running });
      const left = await draining;
      const stopped = left.length ? await runner.terminate() : [];
      if (stopped.length) log.info(`shutdown: stopped ${stopped.length} stage(s) still running after the grace period`, { workflows: stopped });
      // embedded: every active run is this process's (see the start); otherwise only the stopped ones
      const ids = config.databaseUrl ? await activeRunsOf(sql, stopped) : await activeLocalRuns(sql, workflows.namespace);
      const n = await settleInterrupted({ sql, config }, ids, 'runner_stopped');
      if (n) log.info(`shutdown: settled ${n} interrupted run(s); their tasks get the attempt back and run again at the next start`);
    });
    await step('answering the requests in progress', async () => {
      const pending = await server.flush(5000);
      await server.close();
      log.info('shutdown: server closed', pending ? { unanswered: pending } : {});
    });
    await step('closing the runner', async () => runner?.close());
    await step('finishing the knowledge base pass', () => knowledge.idle());
    await step('closing the pool', async () => {
      await sql.end({ timeout: 5 });
      log.info('shutdown: database pool closed');
    });
    if (closeEmbedded) {
      await step('closing the embedded database', async () => {
        await closeEmbedded!();
        log.info('shutdown: embedded database closed');
      });
    }
    if (telemetry) await step('flushing the traces', () => telemetry.shutdown());
    process.off('exit', releaseOnExit);
    lock.release();
    log.info('shutdown: data dir unlocked; stopped cleanly', { ms: Date.now() - t0 });
  };
  let closing: Promise<void> | undefined;
  return {
    url,
    config,
    sql,
    dataDir,
    close: () => (closing ??= shutdown()),
    abort() {
      stopping = true;
      runner?.killAll();
      lock.release();
    },
  };
}

function busRequest(e: OutboxEvent, token: Config['intakeToken'], traceparent: string | undefined): HttpRequest {
  return {
    method: 'POST',
    path: '/',
    query: new URLSearchParams(),
    headers: {
      'ce-specversion': '1.0', 'ce-id': e.eventId, 'ce-type': e.type, 'ce-source': e.source,
      ...(e.subject ? { 'ce-subject': e.subject } : {}), 'ce-time': e.time, 'content-type': 'application/json',
      ...(traceparent ? { 'ce-traceparent': traceparent } : {}),
      ...(token ? { authorization: `Bearer ${token.reveal()}` } : {}),
    },
    body: Buffer.from(JSON.stringify(e.data)),
  };
}
