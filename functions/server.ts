// The container entry point: one image, every function; FUNCTION_TARGET picks which one
// this Knative Service runs, PORT where it listens (the Functions Framework's contract).
// Parse config → connect → migrate → make the handler → serve.
import { loadConfig } from '../shared/config/index.js';
import { connect, migrate } from '../shared/db/index.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { errorBody, type Handler } from '../shared/http/index.js';
import { readRequest, writeResponse } from '../shared/http/node.js';
import { createLogger } from '../shared/log/index.js';
import { databaseStartupError, debugStack, startupLine, StartupError } from '../shared/local/errors.js';
import type { WorkflowBackend } from '../shared/dispatch/index.js';
import { FUNCTIONS, USES_WORKFLOWS, isFunctionName, preloadFunction } from './index.js';
import { startTelemetry } from '../shared/telemetry/index.js';

// Start-up failures are one line with what to do (a bad setting, the database unreachable,
// the port in use), as in local mode; the stack only with FACTEUR_LOG_LEVEL=debug.
const fail = (err: unknown, code = 1): never => {
  process.stderr.write(`facteur: ${startupLine(err, `function ${process.env.FUNCTION_TARGET ?? '(no FUNCTION_TARGET)'}`)}\n`);
  if (process.env.FACTEUR_LOG_LEVEL === 'debug') process.stderr.write(debugStack(err) + '\n');
  process.exit(code);
};
const config = (() => {
  try {
    return loadConfig();
  } catch (err) {
    return fail(err, 2);
  }
})();
const log = createLogger(config.logLevel, { function: config.functionTarget });
for (const key of config.unknownKeys) log.warn('unknown configuration variable (typo?)', { key });
const target = config.functionTarget;
if (!target || !isFunctionName(target)) {
  log.error('FUNCTION_TARGET must name a function this image serves', { target, known: Object.keys(FUNCTIONS) });
  process.exit(2);
}
// Operators' APIs are reachable from outside the cluster (status on the tailnet): they
// must not start open by accident. Local mode (`npm start`) is the place for that.
const anyCredential = config.statusToken !== undefined || config.api.tokens.length > 0 || config.api.tailscaleIdentity;
if ((target === 'status' || target === 'policy') && !anyCredential && !config.allowUnauthenticated) {
  log.error('FACTEUR_API_TOKENS (or FACTEUR_STATUS_TOKEN, or FACTEUR_TAILSCALE_IDENTITY behind tailscale serve) is required for this function (or FACTEUR_ALLOW_UNAUTHENTICATED=true, not for production)');
  process.exit(2);
}
// Traces only when an OTLP endpoint is set: the SDK is not even loaded otherwise (cold starts).
const telemetry = await startTelemetry(process.env, `facteur-${target}`).catch((err: unknown) => {
  log.warn('tracing could not start; serving without it', { error: (err as Error).message });
  return undefined;
});
if (!config.databaseUrl) {
  log.error('DATABASE_URL is required (local mode with an embedded database is `npm start`)');
  process.exit(2);
}
// the function's module loads while the database answers (a cold start's two waits overlap)
preloadFunction(target);
const sql = connect(config.databaseUrl.reveal(), { max: config.poolSize, connectTimeoutS: config.connectTimeoutS, applicationName: `facteur-${target}` });
try {
  if (config.runMigrations) await migrate(sql);
  else await sql`select 1`;
} catch (err) {
  fail(databaseStartupError(err, config.databaseUrl.reveal()));
}
// The policy function owns the packs: the seeded default and the mounted ConfigMap's.
if (target === 'policy') {
  const { loadPolicyPacks } = await import('../shared/policy/store.js');
  await loadPolicyPacks(sql, config.policy.dir).catch((err: unknown) => fail(err));
}
// Workflows: the Kubernetes API (KUBECONFIG or in-cluster) for the functions that need it.
let workflows: WorkflowBackend | undefined;
if (USES_WORKFLOWS.includes(target)) {
  try {
    const { createArgoClient, kubeConfigFromEnv } = await import('../shared/argo/index.js');
    workflows = createArgoClient({ kubeConfig: kubeConfigFromEnv(), namespace: config.workflows.namespace });
  } catch (err) {
    if (target !== 'status') throw err;
    log.warn('no Kubernetes config: cancel will not delete workflows', { error: (err as Error).message });
  }
}
// Kafka: dispatch relays the outbox on its tick; intake and callbacks relay what they just
// wrote right after answering, so the events reach dispatch at once. kafkajs is loaded, and
// the brokers connected, on the first publish, not at start (shared/outbox/lazy-kafka.ts).
const publisher = config.kafka && ['dispatch', 'intake', 'callbacks'].includes(target)
  ? (await import('../shared/outbox/lazy-kafka.js')).lazyKafkaPublisher(config.kafka)
  : undefined;
const relay = publisher && target !== 'dispatch' ? (await import('../shared/outbox/relay.js')).createRelay(sql, publisher, log) : undefined;
const callbackBaseUrl = config.publicUrl;
const handler: Handler = await FUNCTIONS[target]({ sql, config, log, ...(workflows ? { workflows } : {}), ...(callbackBaseUrl ? { callbackBaseUrl } : {}), ...(publisher ? { publisher } : {}) });

// Requests are read by the node adapter (shared/http/node.ts, as local mode serves them): the
// raw bytes, at most FACTEUR_MAX_BODY_BYTES kept, the HttpRequest the handler gets either way.
// The Functions Framework's Express app wraps every request in a `domain`, and the first
// domain switches on an async hook that then runs for every promise of the process: measured
// in `npm run bench -- dispatch` (callbacks at 50 completions/s), p50 255 ms through the
// framework against 17 ms without it, and 58 against 92 completions/s at most; loading it was
// also 650 against 453 ms of a cold start. FACTEUR_HTTP_SERVER=functions-framework serves via the
// framework's app instead (functions/framework.ts), loaded only then.
const nudge = (status: number) => {
  if (relay && status === 202) relay.nudge();
};
const serveNode = (req: IncomingMessage, res: ServerResponse) => {
  readRequest(req, config.maxBodyBytes)
    .then((r) => handler(r))
    .then((out) => {
      writeResponse(res, out);
      nudge(out.status);
    })
    .catch((err) => {
      log.error('unhandled error', { err });
      if (!res.headersSent) writeResponse(res, { status: 500, body: errorBody('internal', 'internal error') });
    });
};
const server = config.httpServer === 'functions-framework'
  ? (await import('./framework.js')).frameworkServer({ target, handler, maxBodyBytes: config.maxBodyBytes, log, serveNode, nudge })
  : createServer(serveNode);
server.once('error', (err: NodeJS.ErrnoException) => {
  fail(err.code === 'EADDRINUSE' ? new StartupError('port_in_use', `port ${config.port} is in use: stop what holds it or set PORT to a free port`, { cause: err }) : err);
});
server.listen(config.port, () => log.info('serving', { target, port: config.port }));
const shutdown = () => {
  server.close();
  void (relay?.idle() ?? Promise.resolve())
    .then(() => Promise.allSettled([sql.end({ timeout: 5 }), publisher?.close(), telemetry?.shutdown()]))
    .finally(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
