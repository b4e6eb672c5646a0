// The dispatch function: the scheduler's home. `POST /tick` (PingSource) runs the
// backstops (stale submissions, heartbeat timeouts, monitoring windows, stuck ideas, the
// outbox, audit seals) and schedules; a Facteur CloudEvent (`facteur.*`, from KafkaSource)
// schedules for the idea it names.
import { createAuthenticator } from '../../shared/auth/index.js';
import type { Config } from '../../shared/config/index.js';
import type { Sql } from '../../shared/db/index.js';
import { dispatchNow, tick } from '../../shared/dispatch/engine.js';
import type { WorkflowBackend } from '../../shared/dispatch/index.js';
import { NonRetriableError, NotFoundError, RetryableError, ValidationError } from '../../shared/errors/index.js';
import { parseCloudEvent } from '../../shared/events/cloudevent.js';
import { errorResponse, json, type Handler, type HttpRequest, type HttpResponse } from '../../shared/http/index.js';
import { deadLetterOf, recordDeadLetter } from '../../shared/intake/index.js';
import { requestFinetune } from '../../shared/kb/finetune.js';
import type { Logger } from '../../shared/log/index.js';
import { createNotifications, type Notifications } from '../../shared/notify/index.js';
import { knowledgeBaseFor } from '../../shared/kb/knowledge.js';
import type { KnowledgeBase } from '../../shared/kb/pass.js';
import type { Publisher } from '../../shared/outbox/index.js';
import { isUuid } from '../../shared/validation/index.js';
import { contextFrom, eventSpan, inSpan, SpanKind, validTraceparent } from '../../shared/telemetry/index.js';

export interface DispatchFunctionDeps {
  readonly sql: Sql;
  readonly config: Config;
  readonly log: Logger;
  readonly workflows: WorkflowBackend;
  readonly callbackBaseUrl: string;
  readonly publisher?: Publisher;
  /** The notifiers (shared/notify); made here from the configuration when not handed in (local mode hands its own). */
  readonly notifications?: Notifications;
  /** The knowledge base's pass (shared/kb/pass.ts); made here when not handed in (local mode hands its own). */
  readonly knowledge?: KnowledgeBase;
}

export function createDispatchHandler(deps: DispatchFunctionDeps): Handler {
  // The PingSource and the KafkaSource on facteur.events: static token and/or OIDC (shared/auth).
  const auth = createAuthenticator(deps.config, { log: deps.log });
  void auth.warm();
  // Notifications go out in the background: the tick and each event start a pass, none waits for it.
  const notify = deps.notifications ?? createNotifications(deps);
  // So does the knowledge base's pass: ended runs' reflections and their vectors, off every callback's path.
  const kb = deps.knowledge ?? knowledgeBaseFor(deps);
  return async (req) => {
    if (req.path === '/healthz') return json(200, { ok: true });
    try {
      const sender = await auth.authenticate(req);
      if (sender.kind === 'oidc') deps.log.debug('dispatch: sender', { sub: sender.sub });
      if (req.method !== 'POST') throw new NonRetriableError('method_not_allowed', 'POST a tick or a CloudEvent');
      if (req.path === '/tick') {
        try {
          return json(200, await inSpan('facteur.tick', { kind: SpanKind.SERVER, parent: contextFrom(req.headers['traceparent']), attributes: { 'faas.name': 'dispatch', 'faas.trigger': 'timer' } }, () => tick(deps)));
        } finally {
          notify?.nudge();
          kb.nudge();
        }
      }
      // The daily PingSource (triggers/ping-kb-finetune.yaml): the fine-tune trigger, once a day whatever the instances.
      if (req.path === '/kb/finetune') return json(200, { requested: (await requestFinetune(deps)) ?? null });
      if (req.path !== '/') throw new NotFoundError(`no route ${req.path}`);
      const event = parseCloudEvent(req);
      // The event is Facteur's own (the local bus), or a Kafka record whose value is the
      // structured CloudEvent the outbox relay wrote (KafkaSource on facteur.events).
      let ideaId: string | undefined;
      let type = event.type;
      // A record relayed from the outbox carries its trace in the structured event it holds
      // (and as its `traceparent` header): that is the event's own context, preferred to the
      // delivery's HTTP one, which a KafkaSource may start afresh.
      let traceparent = validTraceparent(event.kafkaHeaders['traceparent']) ?? event.traceparent;
      try {
        const data = JSON.parse(event.data.toString('utf8')) as { ideaId?: unknown; type?: unknown; traceparent?: unknown; data?: { ideaId?: unknown } };
        const candidate = data.ideaId ?? data.data?.ideaId;
        if (typeof candidate === 'string' && isUuid(candidate)) ideaId = candidate;
        if (typeof data.type === 'string' && data.data !== undefined) type = data.type;
        traceparent = validTraceparent(data.traceparent) ?? traceparent;
      } catch {
        // not JSON: schedule globally
      }
      return await inSpan('facteur.dispatch', eventSpan('dispatch', { ...event, traceparent }), async (span) => {
        // A finished task freed capacity: anyone's waiting task may use it.
        const claims = await dispatchNow(deps, ideaId && type !== 'facteur.task.finished' ? { ideaId } : {});
        notify?.nudge();
        kb.nudge();
        span.setAttributes({ ...(ideaId ? { 'facteur.idea_id': ideaId } : {}), 'facteur.dispatched': claims.length });
        return json(200, { dispatched: claims.length });
      });
    } catch (err) {
      return reject(deps, req, err);
    }
  };
}

/**
 * A refused CloudEvent is kept like intake's (from facteur.events it is our own outbox's, so
 * one that fails to parse is a bug worth its evidence); refused senders keep nothing.
 */
async function reject(deps: DispatchFunctionDeps, req: HttpRequest, err: unknown): Promise<HttpResponse> {
  if (err instanceof ValidationError || (err instanceof NonRetriableError && err.code !== 'method_not_allowed')) {
    const answer = errorResponse(err, deps.log);
    try {
      await recordDeadLetter(deps.sql, deadLetterOf('dispatch', req, { status: answer.status, code: err.code, message: err.message, issues: err instanceof ValidationError ? err.issues : [] }));
    } catch (dlErr) {
      deps.log.error('dispatch: could not record a dead letter', { err: dlErr });
      return errorResponse(new RetryableError('dead_letter_failed', 'could not record the rejected input; retry later', 1000));
    }
    return answer;
  }
  return errorResponse(err, deps.log);
}
