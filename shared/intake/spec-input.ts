// An Idea Spec as a registration: the idea (its intent, digest and anchor), its planning
// task, and the delivery that asked for it. One mapping for every way an Idea Spec arrives —
// `codex.intent`, a GitHub issue on the idea template, Discord's `/idea` — so they register
// exactly alike.
import type { Sender } from '../auth/index.js';
import type { Sql } from '../db/index.js';
import { deriveIntent, type IdeaSpec } from '../intent/index.js';
import type { ReceivedEvent } from '../events/cloudevent.js';
import { activeTraceparent, newRootTraceparent, traceIdOf } from '../telemetry/index.js';
import type { Registrar } from './group-commit.js';
import { register, type RegisterInput, type Registration } from './register.js';

export type Prepared = Omit<RegisterInput, 'eventsTopic' | 'sender'>;

/** Where the spec came from: the idempotency key and what the ledger records of the delivery. */
export interface SpecDelivery {
  readonly key: string;
  readonly deliveryId: string | undefined;
  readonly topic: string;
  readonly ceSource: string;
  readonly ceId: string;
  readonly traceContext: string | null;
}

export { traceIdOf };

/**
 * The trace an idea registered from `event` lives in: the intake span's context when one is
 * active (a child of the event's traceparent, or a new root the SDK made), else the event's
 * own valid traceparent, else a new root, so that every idea has a trace to hand to its runs
 * even with no SDK loaded. A redelivery for an existing idea keeps that idea's trace.
 */
export function ideaTraceContext(event: Pick<ReceivedEvent, 'traceparent'>): string {
  return activeTraceparent() ?? event.traceparent ?? newRootTraceparent();
}

/** `raw`: the bytes as received (their digest is kept, to tell a changed redelivery). */
export function preparedFromSpec(spec: IdeaSpec, raw: Uint8Array, d: SpecDelivery, maxAttempts: number): Prepared {
  const derived = deriveIntent(spec, raw);
  const source = spec.source ?? { type: 'api' as const, ref: spec.id ? `idea-spec:${spec.id}` : `delivery:${d.key}` };
  return {
    delivery: { key: d.key, deliveryId: d.deliveryId, kind: 'idea_spec', topic: d.topic, ceSource: d.ceSource, ceId: d.ceId, rawDigest: derived.rawDigest },
    idea: {
      sourceType: source.type,
      sourceRef: source.type === 'github_issue' ? source.ref.toLowerCase() : source.ref,
      title: derived.intent.title,
      repository: derived.intent.repository,
      base: derived.intent.base,
      priority: derived.intent.priority,
      labels: derived.intent.labels,
      autonomyLevel: derived.intent.autonomyLevel,
      payload: spec,
      intent: derived.intent,
      intentDigest: derived.intentDigest,
      intentAnchor: derived.anchor,
      budget: derived.intent.budget,
      initiator: spec.initiator ?? null,
      issueNumber: source.type === 'github_issue' ? (/#(\d+)$/.exec(source.ref)?.[1] ?? null) : null,
    },
    task: {
      key: 'planning',
      stage: 'planning',
      title: `Plan: ${derived.intent.title}`,
      description: derived.anchor,
      prompt: null,
      branch: null,
      metadata: { intentDigest: derived.intentDigest },
      maxAttempts,
    },
    actor: spec.initiator ? `${spec.initiator.kind}:${spec.initiator.login}` : `intake:${d.topic}`,
    traceId: traceIdOf(d.traceContext),
    traceContext: d.traceContext,
  };
}

export interface RegisterDeps {
  readonly sql: Sql;
  readonly config: { readonly topics: { readonly events: string } };
  /** Group commit (./group-commit.ts); one statement per registration without it. */
  readonly registrar?: Registrar;
}

/** Registers a prepared delivery, exactly once by its key (shared/intake/register.ts). */
export async function registerPrepared(deps: RegisterDeps, input: Prepared, sender?: Sender | null): Promise<Registration> {
  const full = { ...input, eventsTopic: deps.config.topics.events, sender: sender ?? null };
  return deps.registrar ? deps.registrar.register(full) : register(deps.sql, full);
}
