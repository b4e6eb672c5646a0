// Intake: turn a KafkaSource CloudEvent into registered ideas and tasks, exactly once.
//
// Routing is by topic (the `#topic` fragment of `ce-source`, or for a record that was
// itself a CloudEvent, its `type` when that names a topic) and then by content type.
//
// Mapping of upstream CodexTasks onto ideas (documented in the README):
//   idea   = source_type 'github_issue', source_ref '<owner/repo lower-cased>#<issue>'
//   task   = planning → key 'planning'; implementation → 'gh-implementation';
//            review → 'gh-review-<fingerprint or delivery id>'
// Idempotency keys: 'github-delivery:<X-GitHub-Delivery>' for CodexTasks (the bridge
// publishes one webhook to both task topics; the shared key makes them one delivery),
// 'idea-spec:<id>' for an Idea Spec with an id, else 'ce:<ce-source>#<ce-id>'.
import type { Sender } from '../auth/index.js';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import { NonRetriableError, ValidationError } from '../errors/index.js';
import type { ReceivedEvent } from '../events/cloudevent.js';
import { parseIdeaSpec } from '../intent/index.js';
import { CODEX_TASK_MESSAGE, decodeCodexTask, parseCodexTaskJson, type CodexTask } from './codex-task.js';
import type { Registration } from './register.js';
import { preparedFromSpec, registerPrepared, traceIdOf, type Prepared } from './spec-input.js';
import { recordTelemetry, recordWorkflowCompletion, type FactOutcome } from './facts.js';
import type { Registrar } from './group-commit.js';
import { requireUtf8Charset } from '../validation/index.js';
import { handleGithubWebhook, readGithubWebhook } from '../approvals/github.js';
import { ideaFromIssue } from './issues.js';
import { ideaTraceContext } from './spec-input.js';

export { createGroupRegistrar, type Registrar } from './group-commit.js';
export { preparedFromSpec, registerPrepared, traceIdOf, type Prepared, type SpecDelivery } from './spec-input.js';
import { createHash } from 'node:crypto';

export { deadLetterOf, recordDeadLetter, type DeadLetter, type Rejection } from './dead-letters.js';
export { decodeCodexTask, encodeCodexTask, parseCodexTaskJson, type CodexTask } from './codex-task.js';

export interface IntakeDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'topics' | 'lifecycle' | 'policy' | 'github' | 'api' | 'ideaSources'>;
  /** Group commit (shared/intake/group-commit.ts); one statement per event without it. */
  readonly registrar?: Registrar;
}

export type IntakeRoute = 'idea_spec' | 'codex_task_proto' | 'codex_task_json' | 'workflow_completion' | 'telemetry' | 'github_webhook';

export interface IntakeOutcome extends Registration {
  readonly route: 'idea_spec' | 'codex_task_proto' | 'codex_task_json';
  readonly deliveryKey: string;
}

export function routeOf(event: ReceivedEvent, topics: Config['topics']): { route: IntakeRoute; topic: string } {
  const topic = event.topic ?? event.type;
  if (topic === topics.intent) return { route: 'idea_spec', topic };
  if (topic === topics.codexTasksProto) return { route: 'codex_task_proto', topic };
  if (topic === topics.codexTasksJson) return { route: 'codex_task_json', topic };
  if (topic === topics.workflowCompletions) return { route: 'workflow_completion', topic };
  if (topic === topics.telemetry) return { route: 'telemetry', topic };
  if (topic === topics.githubWebhooks) return { route: 'github_webhook', topic };
  const known = [topics.intent, topics.codexTasksProto, topics.codexTasksJson, topics.workflowCompletions, topics.telemetry, topics.githubWebhooks];
  throw new ValidationError(`no intake route for topic ${JSON.stringify(topic)}`, [
    { path: 'ce-source', message: `topic ${JSON.stringify(topic)} is not one of ${known.join(', ')}` },
  ], 'unroutable');
}

const JSON_TYPE = /^(application\/json|text\/json|application\/[a-z0-9.+-]+\+json)\s*(;|$)/i;
const PROTO_TYPE = /^(application\/x-protobuf|application\/protobuf|application\/octet-stream)\s*(;|$)/i;

export function checkContentType(route: IntakeRoute, event: ReceivedEvent): void {
  const ct = event.contentType ?? '';
  const ok = route === 'codex_task_proto' ? PROTO_TYPE.test(ct) : JSON_TYPE.test(ct);
  if (!ok) {
    const want = route === 'codex_task_proto' ? 'application/x-protobuf' : 'application/json';
    throw new NonRetriableError('unsupported_media_type', `content type ${JSON.stringify(ct || null)} is not accepted for this topic; send ${want}`);
  }
  requireUtf8Charset(ct);
  const message = event.kafkaHeaders['xprotobufmessage'];
  if (route === 'codex_task_proto' && message !== undefined && message !== CODEX_TASK_MESSAGE) {
    throw new NonRetriableError('unsupported_media_type', `x-protobuf-message ${JSON.stringify(message)} is not ${CODEX_TASK_MESSAGE}`);
  }
}

export function deliveryKeyOf(event: ReceivedEvent): string {
  return `ce:${event.source}#${event.id}`;
}


/**
 * Validates the event's data for its route and registers it; idempotent by delivery key.
 * `sender` (shared/auth) is recorded with the delivery.
 */
export async function intake(deps: IntakeDeps, event: ReceivedEvent, sender?: Sender): Promise<IntakeOutcome | (FactOutcome & { route: 'workflow_completion' | 'telemetry' | 'github_webhook' })> {
  const { route, topic } = routeOf(event, deps.config.topics);
  checkContentType(route, event);
  // GitHub's raw webhooks: issues on the idea template become ideas (./issues.ts), `/approve`
  // and `/reject` comments votes (shared/approvals).
  if (route === 'github_webhook') {
    const hook = readGithubWebhook(deps, event);
    if (hook.type === 'issues') return { route, ...(await ideaFromIssue(deps, event, hook, topic, sender)) };
    return { route, ...(await handleGithubWebhook(deps, event, hook)) };
  }
  if (route === 'workflow_completion' || route === 'telemetry') {
    const record = route === 'telemetry' ? recordTelemetry : recordWorkflowCompletion;
    return { route, ...(await record(deps.sql, deps.config, event.data, { source: event.source, id: event.id, topic, sender })) };
  }
  const input = route === 'idea_spec' ? fromIdeaSpec(event, topic, deps.config.lifecycle.maxAttempts) : fromCodexTask(event, topic, route, deps.config.lifecycle.maxAttempts);
  // (the fact routes returned above)
  const registered = await registerPrepared(deps, input, sender);
  return { ...registered, route, deliveryKey: input.delivery.key };
}

function fromIdeaSpec(event: ReceivedEvent, topic: string, maxAttempts: number): Prepared {
  const spec = parseIdeaSpec(event.data);
  const key = spec.id ? `idea-spec:${spec.id}` : deliveryKeyOf(event);
  return preparedFromSpec(spec, event.data, { key, deliveryId: spec.id, topic, ceSource: event.source, ceId: event.id, traceContext: ideaTraceContext(event) }, maxAttempts);
}

function fromCodexTask(event: ReceivedEvent, topic: string, route: 'codex_task_proto' | 'codex_task_json', maxAttempts: number): Prepared {
  const headerDelivery = event.kafkaHeaders['xgithubdelivery'];
  const task: CodexTask =
    route === 'codex_task_proto' ? decodeCodexTask(event.data) : parseCodexTaskJson(event.data, headerDelivery || event.id);
  const repository = task.repository.toLowerCase();
  const fingerprint = event.kafkaHeaders['xcodexreviewfingerprint'] || task.deliveryId;
  // the key may end a branch name (`facteur/<idea>/<key>`): only characters git takes anywhere
  const taskKey =
    task.stage === 'planning' ? 'planning' : task.stage === 'implementation' ? 'gh-implementation' : `gh-review-${fingerprint}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 128);
  const rawDigest = createHash('sha256').update(event.data).digest('hex');
  const traceContext = ideaTraceContext(event);
  return {
    delivery: { key: `github-delivery:${task.deliveryId}`, deliveryId: task.deliveryId, kind: route, topic, ceSource: event.source, ceId: event.id, rawDigest },
    idea: {
      sourceType: 'github_issue',
      sourceRef: `${repository}#${task.issueNumber}`,
      title: task.issueTitle || `${repository}#${task.issueNumber}`,
      repository,
      base: task.base || 'main',
      priority: 'normal',
      labels: [],
      autonomyLevel: 'L1',
      payload: task,
      intent: null,
      intentDigest: null,
      intentAnchor: null,
      budget: {},
      initiator: task.sender ? { kind: 'github', login: task.sender } : null,
      issueNumber: task.issueNumber,
    },
    task: {
      key: taskKey,
      stage: task.stage,
      title: `${task.stage[0]!.toUpperCase()}${task.stage.slice(1)}: ${task.issueTitle || `${repository}#${task.issueNumber}`}`,
      description: task.issueBody,
      prompt: task.prompt || null,
      branch: task.head || null,
      metadata: {
        issueUrl: task.issueUrl,
        deliveryId: task.deliveryId,
        recordKey: event.key ?? null,
        ...(task.reviewContext ? { reviewContext: task.reviewContext } : {}),
        ...(task.planCommentId ? { planCommentId: task.planCommentId } : {}),
        ...(task.iteration !== undefined ? { iteration: task.iteration } : {}),
      },
      maxAttempts,
    },
    actor: task.sender ? `github:${task.sender}` : `intake:${topic}`,
    traceId: traceIdOf(traceContext),
    traceContext,
  };
}
