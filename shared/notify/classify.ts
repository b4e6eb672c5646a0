// Which outbox events each notifier turns into deliveries, as data: a pure function of the
// event, tested table-driven. Everything else an event says is read when the delivery is
// sent (the GitHub comment shows the idea as it is then, not as the event saw it).
import { isUuid, repositoryProblem } from '../validation/index.js';

export const NOTIFIERS = ['github', 'discord'] as const;
export type Notifier = (typeof NOTIFIERS)[number];

/** An outbox row as the feed reads it. */
export interface FeedEvent {
  readonly eventId: string;
  readonly type: string;
  readonly data: unknown;
}

/** A delivery to create; `subject` is what it updates, `scope` what paces it. */
export interface Planned {
  readonly notifier: Notifier;
  readonly eventId: string;
  readonly eventType: string;
  readonly subject: string;
  readonly scope: string;
  readonly ideaId: string | null;
  readonly repository: string | null;
  readonly data: Record<string, unknown>;
}

/** The transitions a team hears about on Discord, by what they are called there. */
export type DiscordKind = 'plan_ready' | 'deployed' | 'approval_needed' | 'blocked' | 'regression' | 'stuck' | 'alert';

const DISCORD_TYPES: Readonly<Record<string, DiscordKind>> = {
  'facteur.idea.awaiting_approval': 'approval_needed',
  'facteur.idea.blocked': 'blocked',
  'facteur.idea.regression': 'regression',
  'facteur.idea.stuck': 'stuck',
};

/** The one event that is not about an idea's status comment: a GitHub issue whose body missed fields. */
export const ISSUE_INCOMPLETE = 'facteur.intake.issue_incomplete';

function record(data: unknown): Record<string, unknown> {
  return data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
}

/** The idea an event is about, when it names one. */
export function ideaOf(data: unknown): string | null {
  const id = record(data).ideaId;
  return typeof id === 'string' && isUuid(id) ? id.toLowerCase() : null;
}

export function discordKind(e: FeedEvent): DiscordKind | undefined {
  const d = record(e.data);
  if (e.type === 'facteur.task.finished' && d.succeeded === true) {
    if (d.stage === 'planning') return 'plan_ready';
    if (d.stage === 'deploy') return 'deployed';
    return undefined;
  }
  if (e.type.startsWith('facteur.alert.')) return 'alert';
  return DISCORD_TYPES[e.type];
}

/** A well-formed `facteur.intake.issue_incomplete` event's target, or undefined. */
export function incompleteIssueOf(data: unknown): { repository: string; issueNumber: number; deliveryId: string } | undefined {
  const d = record(data);
  const n = d.issueNumber;
  if (typeof d.repository !== 'string' || repositoryProblem(d.repository) !== undefined) return undefined;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) return undefined;
  if (typeof d.deliveryId !== 'string' || d.deliveryId.length === 0 || d.deliveryId.length > 200) return undefined;
  if (!Array.isArray(d.problems)) return undefined;
  return { repository: d.repository.toLowerCase(), issueNumber: n, deliveryId: d.deliveryId };
}

/**
 * The GitHub deliveries of an event, before the idea's issue is looked up: every event about
 * an idea refreshes its status comment (`idea:<id>`; ideas without an issue are dropped by
 * the feed), and an incomplete issue gets a comment of its own.
 */
export function planGitHub(e: FeedEvent): Omit<Planned, 'scope' | 'repository'> & { repository?: string } | undefined {
  if (e.type === ISSUE_INCOMPLETE) {
    const target = incompleteIssueOf(e.data);
    if (!target) return undefined;
    return { notifier: 'github', eventId: e.eventId, eventType: e.type, subject: `issue:${target.repository}#${target.issueNumber}`, ideaId: null, repository: target.repository, data: record(e.data) };
  }
  const ideaId = ideaOf(e.data);
  if (!ideaId) return undefined;
  return { notifier: 'github', eventId: e.eventId, eventType: e.type, subject: `idea:${ideaId}`, ideaId, data: {} };
}

/** The Discord delivery of an event: one message each, all through the one webhook. */
export function planDiscord(e: FeedEvent): Planned | undefined {
  const kind = discordKind(e);
  if (!kind) return undefined;
  return { notifier: 'discord', eventId: e.eventId, eventType: e.type, subject: 'webhook', scope: 'webhook', ideaId: ideaOf(e.data), repository: null, data: { ...record(e.data), kind } };
}
