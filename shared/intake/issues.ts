// The `issues` webhooks of topic github.webhook.events: an issue on Facteur's idea template
// registered as an Idea Spec, exactly like one from `codex.intent` (shared/sources/github-issue.ts
// decides; this registers, or records the problems once per delivery).
import type { Sender } from '../auth/index.js';
import { githubDeliveryId, type GithubWebhook } from '../approvals/github.js';
import type { Config } from '../config/index.js';
import type { ReceivedEvent } from '../events/cloudevent.js';
import { decideIssue, recordIncomplete } from '../sources/github-issue.js';
import type { FactOutcome } from './facts.js';
import { ideaTraceContext, preparedFromSpec, registerPrepared, type RegisterDeps } from './spec-input.js';

export type IssueDeps = RegisterDeps & { readonly config: Pick<Config, 'topics' | 'lifecycle' | 'ideaSources'> };

export async function ideaFromIssue(deps: IssueDeps, event: ReceivedEvent, hook: GithubWebhook, topic: string, sender?: Sender): Promise<FactOutcome> {
  const decision = decideIssue(hook.payload, deps.config.ideaSources.githubLabel);
  if (decision.kind === 'ignored') return { duplicate: false, body: { event: 'issues', ignored: decision.reason } };
  const deliveryId = githubDeliveryId(event, 'an issue');
  const issue = { repository: decision.repository, issueNumber: decision.issueNumber };
  if (decision.kind === 'incomplete') {
    const written = await recordIncomplete(deps.sql, deps.config.topics.events, { ...issue, deliveryId, problems: decision.problems });
    return { duplicate: !written, body: { event: 'issues', deliveryId, ...issue, registered: false, problems: decision.problems } };
  }
  const prepared = preparedFromSpec(decision.spec, event.data, {
    key: decision.key, deliveryId, topic, ceSource: event.source, ceId: event.id, traceContext: ideaTraceContext(event),
  }, deps.config.lifecycle.maxAttempts);
  const r = await registerPrepared(deps, prepared, sender);
  return { duplicate: r.duplicate, body: { event: 'issues', deliveryId, ...issue, registered: true, ideaId: r.ideaId, taskId: r.taskId } };
}
