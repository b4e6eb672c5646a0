// The intake function: parse the CloudEvent, call shared/intake, map the outcome to HTTP.
// Bad input → a non-retriable 4xx listing every problem, and the raw input in dead_letters.
// Only an unreachable database gives a 5xx (503), so KafkaSource retries just that.
import { createAuthenticator } from '../../shared/auth/index.js';
import type { Config } from '../../shared/config/index.js';
import { isUnavailable, pgCode, type Sql } from '../../shared/db/index.js';
import { FacteurError, NonRetriableError, RetryableError, UnauthorizedError, ValidationError, type Issue } from '../../shared/errors/index.js';
import { parseCloudEvent, type ReceivedEvent } from '../../shared/events/cloudevent.js';
import { errorBody, errorResponse, json, type Handler, type HttpRequest, type HttpResponse } from '../../shared/http/index.js';
import { createGroupRegistrar, deadLetterOf, deliveryKeyOf, intake, recordDeadLetter } from '../../shared/intake/index.js';
import type { Logger } from '../../shared/log/index.js';
import { WebhookSignatureError } from '../../shared/approvals/github.js';
import { DISCORD_PATH, DISCORD_TOPIC, handleDiscordInteraction } from '../../shared/intake/discord.js';
import { eventSpan, inSpan } from '../../shared/telemetry/index.js';

export interface IntakeFunctionDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'topics' | 'intakeToken' | 'oidc' | 'maxBodyBytes' | 'lifecycle' | 'policy' | 'github' | 'api' | 'ideaSources'>;
  readonly log: Logger;
}

export function createIntakeHandler(d: IntakeFunctionDeps): Handler {
  // Concurrent events share a statement (group commit); every event still gets its own answer.
  const deps = { ...d, registrar: createGroupRegistrar(d.sql) };
  // Static token and/or OIDC (shared/auth); the issuer's keys are fetched now, not on the first event.
  const auth = createAuthenticator(d.config, { log: d.log });
  void auth.warm();
  return async (req) => {
    if (req.method === 'GET' && req.path === '/healthz') return json(200, { ok: true });
    // Discord signs its requests itself (shared/intake/discord.ts): no sender token there.
    if (req.path === DISCORD_PATH) return handleDiscordInteraction(deps, req).catch((err: unknown) => reject(deps, req, undefined, err, DISCORD_TOPIC));
    let event: ReceivedEvent | undefined;
    try {
      // Refused senders (401) store nothing: reject() keeps no dead letter for them.
      const sender = await auth.authenticate(req);
      if (req.method !== 'POST') throw new NonRetriableError('method_not_allowed', 'POST a CloudEvent');
      const size = req.bodySize ?? req.body.length;
      if (req.bodyTruncated || size > deps.config.maxBodyBytes) {
        throw new NonRetriableError('payload_too_large', `body is ${size} bytes; the limit is ${deps.config.maxBodyBytes}`);
      }
      const received = (event = parseCloudEvent(req));
      // the event's span: a child of its traceparent (or a new root), the idea's trace from then on
      return await inSpan('facteur.intake', eventSpan('intake', received), async (span) => {
        const out = await intake(deps, received, sender);
        if (!('ideaId' in out)) {
          return json(out.duplicate ? 200 : 202, { ...out.body, duplicate: out.duplicate });
        }
        span.setAttributes({ 'facteur.idea_id': out.ideaId, 'facteur.task_id': out.taskId, 'facteur.duplicate': out.duplicate });
        const body = { ideaId: out.ideaId, taskId: out.taskId, duplicate: out.duplicate, ...(out.duplicate && !out.sameContent ? { sameContent: false } : {}) };
        return json(out.duplicate ? 200 : 202, body);
      });
    } catch (err) {
      return reject(deps, req, event, err);
    }
  };
}

async function reject(deps: IntakeFunctionDeps, req: HttpRequest, event: ReceivedEvent | undefined, err: unknown, topic = event?.topic): Promise<HttpResponse> {
  // A refused sender stores nothing; a GitHub webhook whose signature does not match is kept.
  if (err instanceof UnauthorizedError && !(err instanceof WebhookSignatureError)) return errorResponse(err);
  if (err instanceof RetryableError || isUnavailable(err)) {
    const code = pgCode(err) ?? (err as FacteurError).code;
    deps.log.warn(`intake: ${err instanceof RetryableError ? err.message : 'database unavailable'}; asking the sender to retry`, { code });
    return errorResponse(err instanceof RetryableError ? err : new RetryableError('database_unavailable', 'the database is unreachable; retry later', 1000, { cause: err }));
  }
  const bad = badInput(err);
  if (!bad) return errorResponse(err, deps.log);
  try {
    await recordDeadLetter(deps.sql, deadLetterOf('intake', req, bad, { topic, deliveryKey: event ? deliveryKeyOf(event) : undefined }));
  } catch (dlErr) {
    // Could not keep the input: answer retriable so it is not lost.
    deps.log.error('intake: could not record a dead letter', { err: dlErr });
    return errorResponse(new RetryableError('dead_letter_failed', 'could not record the rejected input; retry later', 1000));
  }
  deps.log.info('intake: rejected', { status: bad.status, code: bad.code, topic, problems: bad.issues.length });
  return json(bad.status, errorBody(bad.code, bad.message, bad.issues));
}

interface Bad {
  status: number;
  code: string;
  message: string;
  issues: readonly Issue[];
}

function badInput(err: unknown): Bad | undefined {
  if (err instanceof WebhookSignatureError) return { status: 401, code: err.code, message: err.message, issues: [] };
  if (err instanceof ValidationError) return { status: 400, code: err.code, message: err.message, issues: err.issues };
  if (err instanceof NonRetriableError) {
    const status = errorResponse(err).status;
    return { status, code: err.code, message: err.message, issues: [] };
  }
  // Data the validators let through but the database refused (class 22 data exception,
  // class 23 integrity): still the sender's input, still not worth a retry.
  const code = pgCode(err);
  if (code && (code.startsWith('22') || code.startsWith('23'))) {
    return { status: 422, code: 'rejected_by_database', message: (err as Error).message, issues: [] };
  }
  return undefined;
}
