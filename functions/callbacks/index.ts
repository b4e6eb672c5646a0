// The callbacks function: run events from Argo steps. A `completed` event settles the run
// and, in the same request path after commit, runs the scheduler and submits successors,
// so the next stage starts within milliseconds rather than after a Kafka round trip.
import type { Config } from '../../shared/config/index.js';
import type { Sql } from '../../shared/db/index.js';
import { dispatchNow } from '../../shared/dispatch/engine.js';
import type { WorkflowBackend } from '../../shared/dispatch/index.js';
import { authenticateRun, recordRunEvent } from '../../shared/callbacks/index.js';
import { NonRetriableError, NotFoundError, RetryableError, ValidationError, messageOf } from '../../shared/errors/index.js';
import { errorBody, errorResponse, json, pathParam, type Handler } from '../../shared/http/index.js';
import { deadLetterOf, recordDeadLetter } from '../../shared/intake/index.js';
import type { Logger } from '../../shared/log/index.js';
import { traceHandler } from '../../shared/telemetry/http.js';
import { isUuid, requireUtf8Charset } from '../../shared/validation/index.js';

export interface CallbacksFunctionDeps {
  readonly sql: Sql;
  readonly config: Config;
  readonly log: Logger;
  readonly workflows: WorkflowBackend;
  readonly callbackBaseUrl: string;
}

const ROUTE = /^\/v1\/runs\/([^/]+)\/events$/;

export function createCallbacksHandler(deps: CallbacksFunctionDeps): Handler {
  // The step sends its run's trace context (TRACEPARENT) on every callback: these spans, and
  // the dispatch of successors they do, are children of the run's stage span.
  return traceHandler('callbacks', callbacks(deps), {
    route: (req) => (ROUTE.test(req.path) ? '/v1/runs/{runId}/events' : req.path === '/healthz' ? '/healthz' : 'unknown'),
    attributes: (req) => {
      const id = ROUTE.exec(req.path)?.[1];
      return id && isUuid(id) ? { 'facteur.run_id': id } : {};
    },
  });
}

function callbacks(deps: CallbacksFunctionDeps): Handler {
  return async (req) => {
    if (req.path === '/healthz') return json(200, { ok: true });
    let runId: string;
    try {
      const m = ROUTE.exec(req.path);
      if (!m) throw new NotFoundError(`no route ${req.method} ${req.path}`);
      if (req.method !== 'POST') throw new NonRetriableError('method_not_allowed', 'POST run events');
      // before anything is stored: a caller who cannot even name a run keeps no dead letter
      runId = pathParam(m[1]!, 'runId');
      requireUtf8Charset(req.headers['content-type']);
    } catch (err) {
      return errorResponse(err, deps.log);
    }
    try {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers['authorization'] ?? '')?.[1];
      const size = req.bodySize ?? req.body.length;
      if (req.bodyTruncated || size > deps.config.maxBodyBytes) {
        // kept (its 64 KiB prefix) only for the run's own step: a stranger's 2 MB is not stored
        await authenticateRun(deps, runId, bearer);
        await keep(deps, req, 413, 'payload_too_large', `body is ${size} bytes; the limit is ${deps.config.maxBodyBytes}`, []);
        return json(413, errorBody('payload_too_large', `body is ${size} bytes; the limit is ${deps.config.maxBodyBytes}`));
      }
      const result = await recordRunEvent(deps, runId, bearer, req.body);
      if (result.settled) {
        // this idea's successors now; other ideas get the freed capacity through the
        // facteur.task.finished event (dispatch) or the tick
        await dispatchNow(deps, { ideaId: result.ideaId }).catch((err) => deps.log.warn('callbacks: dispatch after completion failed; the tick will pick it up', { error: messageOf(err) }));
      }
      return json(result.status, result.body);
    } catch (err) {
      if (err instanceof ValidationError) {
        try {
          await keep(deps, req, 400, err.code, err.message, err.issues);
        } catch (keepErr) {
          // the step retries a 503; a 400 now would lose the input
          deps.log.error('callbacks: could not record a dead letter', { err: keepErr });
          return errorResponse(new RetryableError('dead_letter_failed', 'could not record the rejected input; retry later', 1000));
        }
      }
      return errorResponse(err, deps.log);
    }
  };
}

async function keep(deps: CallbacksFunctionDeps, req: Parameters<Handler>[0], status: number, code: string, message: string, issues: readonly { path: string; message: string }[]) {
  await recordDeadLetter(deps.sql, deadLetterOf('callbacks', req, { status, code, message, issues }, { deliveryKey: req.path }));
}
