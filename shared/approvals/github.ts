// Votes from GitHub: the raw webhooks of topic `github.webhook.events` (CONTRACTS §3, §7).
// An `issue_comment` (created) or `pull_request_review` (submitted) whose body's first line
// is `/approve` or `/reject <reason>`, on an idea's issue or on a pull request facteur-agent
// reported for it, is a vote by the commenter's login on the idea's oldest pending approval.
// GitHub's `author_association` must be OWNER, MEMBER or COLLABORATOR, besides the
// approval's own eligibility; a vote that fails either is recorded as refused, with no
// effect. Everything else is acknowledged and ignored, saying why.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Config, Role } from '../config/index.js';
import { teamsOf } from '../config/api-identity.js';
import type { Sql } from '../db/index.js';
import { ConflictError, UnauthorizedError, ValidationError } from '../errors/index.js';
import type { ReceivedEvent } from '../events/cloudevent.js';
import { zodIssues, parseJsonBytes } from '../validation/index.js';
import type { VoteOutcome } from './votes.js';

/** A webhook whose signature does not match: 401, and (unlike other 401s) kept as a dead letter. */
export class WebhookSignatureError extends UnauthorizedError {
  constructor(message: string) {
    super(message, 'bad_signature');
  }
}

export const TRUSTED_ASSOCIATIONS = ['OWNER', 'MEMBER', 'COLLABORATOR'] as const;

/**
 * Checks `sha256=<hex>` against the HMAC-SHA256 of the raw body. Both sides are hashed
 * before the constant-time comparison, so neither the length nor the content of what was
 * sent changes how long it takes.
 */
export function verifySignature(body: Buffer, header: string | undefined, secret: string): void {
  if (!header) throw new WebhookSignatureError('the webhook carries no X-Hub-Signature-256 and a webhook secret is configured');
  const expected = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  const a = createHash('sha256').update(header.trim().toLowerCase()).digest();
  const b = createHash('sha256').update(expected).digest();
  if (!timingSafeEqual(a, b)) throw new WebhookSignatureError('X-Hub-Signature-256 does not match the body signed with the webhook secret');
}

/** `/approve [note]` or `/reject [reason]` on the body's first non-empty line; undefined otherwise. */
export function parseCommand(body: string | null | undefined): { decision: 'approve' | 'reject'; reason?: string } | undefined {
  const first = (body ?? '').trim().split(/\r?\n/, 1)[0]!.trim();
  const m = /^\/(approve|reject)(?:\s+(.+))?$/.exec(first);
  if (!m) return undefined;
  const reason = m[2]?.trim().slice(0, 1000);
  return { decision: m[1] as 'approve' | 'reject', ...(reason ? { reason } : {}) };
}

const login = z.string().min(1).max(100);
const user = z.looseObject({ login });
const repository = z.looseObject({ full_name: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'must be owner/name') });
const issueComment = z.looseObject({
  action: z.string(),
  comment: z.looseObject({ body: z.string().max(65_536).nullable(), user, author_association: z.string().max(50) }),
  issue: z.looseObject({ number: z.number().int().positive(), pull_request: z.looseObject({}).optional(), user: user.optional() }),
  repository,
});
const review = z.looseObject({
  action: z.string(),
  review: z.looseObject({ body: z.string().max(65_536).nullable(), state: z.string().max(50).optional(), user, author_association: z.string().max(50) }),
  pull_request: z.looseObject({ number: z.number().int().positive(), user: user.optional() }),
  repository,
});

export interface WebhookOutcome {
  readonly duplicate: boolean;
  readonly body: Record<string, unknown>;
}

type Deps = { readonly sql: Sql; readonly config: Pick<Config, 'github' | 'topics' | 'lifecycle' | 'api'> };

const rolesOf = (byLogin: Readonly<Record<string, readonly Role[]>>, login: string): readonly Role[] =>
  Object.hasOwn(byLogin, login.toLowerCase()) ? byLogin[login.toLowerCase()]! : [];

/** The event type: GitHub's header when the producer copied it, else the payload's shape. */
function eventTypeOf(event: ReceivedEvent, payload: Record<string, unknown>): string {
  const header = event.kafkaHeaders['xgithubevent'];
  if (header) return header;
  if ('review' in payload && 'pull_request' in payload) return 'pull_request_review';
  if ('comment' in payload && 'issue' in payload) return 'issue_comment';
  if ('issue' in payload && 'action' in payload) return 'issues';
  return 'unknown';
}

interface Candidate {
  readonly repository: string;
  readonly number: number;
  readonly onPullRequest: boolean;
  readonly login: string;
  readonly association: string;
  readonly body: string | null;
  readonly prAuthor: string | undefined;
}

function candidateOf(type: string, payload: unknown): Candidate | string {
  if (type === 'issue_comment') {
    const r = issueComment.safeParse(payload);
    if (!r.success) throw new ValidationError('invalid issue_comment webhook', zodIssues(r.error));
    const p = r.data;
    if (p.action !== 'created') return `issue_comment ${p.action.slice(0, 50)} is not a vote (only created)`;
    const onPr = p.issue.pull_request !== undefined;
    return { repository: p.repository.full_name, number: p.issue.number, onPullRequest: onPr, login: p.comment.user.login, association: p.comment.author_association, body: p.comment.body, prAuthor: onPr ? p.issue.user?.login : undefined };
  }
  if (type === 'pull_request_review') {
    const r = review.safeParse(payload);
    if (!r.success) throw new ValidationError('invalid pull_request_review webhook', zodIssues(r.error));
    const p = r.data;
    if (p.action !== 'submitted') return `pull_request_review ${p.action.slice(0, 50)} is not a vote (only submitted)`;
    return { repository: p.repository.full_name, number: p.pull_request.number, onPullRequest: true, login: p.review.user.login, association: p.review.author_association, body: p.review.body, prAuthor: p.pull_request.user?.login };
  }
  return `event ${type.slice(0, 50)} is not a vote`;
}

/**
 * The oldest pending, unexpired approval of the idea whose issue is `number`, or whose pull
 * request facteur-agent reported as `number`: in an implementation run's completion message
 * ("… pull request #12") or in an `integration` artifact (`pr`, `branches[].pr`).
 */
async function pendingApprovalFor(sql: Sql, repo: string, number: number): Promise<string | undefined> {
  const [row] = await sql<{ id: string }[]>`
    select a.id from codex_kb.ideas i join codex_kb.approvals a on a.idea_id = i.id
     where i.repository = ${repo.toLowerCase()} and a.status = 'pending' and (a.expires_at is null or a.expires_at > now())
       and (i.issue_number = ${number}
            or exists (select 1 from codex_kb.run_events e
                        where e.idea_id = i.id and e.event_type = 'callback.completed'
                          and e.payload->>'message' ~ ${`pull request #${number}([^0-9]|$)`})
            or exists (select 1 from codex_kb.artifacts f
                        where f.idea_id = i.id and f.artifact_type = 'integration'
                          and (f.data->>'pr' = ${String(number)} or f.data->'branches' @> ${sql.json([{ pr: number }])})))
     order by a.created_at, a.id limit 1`;
  return row?.id;
}

const ignored = (why: string, extra: Record<string, unknown> = {}): WebhookOutcome => ({ duplicate: false, body: { ignored: why, ...extra } });

/** A webhook delivery, its signature verified (when a secret is configured), as JSON with its event type. */
export interface GithubWebhook {
  readonly type: string;
  readonly payload: Record<string, unknown>;
}

export function readGithubWebhook(deps: Pick<Deps, 'config'>, event: ReceivedEvent): GithubWebhook {
  const secret = deps.config.github.webhookSecret;
  if (secret) verifySignature(event.data, event.kafkaHeaders['xhubsignature256'], secret.reveal());
  const payload = parseJsonBytes(event.data, 'GitHub webhook');
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new ValidationError('a GitHub webhook must be a JSON object', [{ path: 'body', message: 'expected an object' }]);
  }
  return { type: eventTypeOf(event, payload as Record<string, unknown>), payload: payload as Record<string, unknown> };
}

/** The delivery id a webhook is idempotent by: X-GitHub-Delivery, or the record key. */
export function githubDeliveryId(event: ReceivedEvent, what: string): string {
  const deliveryId = event.kafkaHeaders['xgithubdelivery'] || event.key;
  if (!deliveryId || deliveryId.length > 200) {
    throw new ValidationError(`${what} needs its delivery id`, [{ path: 'headers.ce-kafkaheaderxgithubdelivery', message: 'X-GitHub-Delivery (or the record key) is required, at most 200 characters' }]);
  }
  return deliveryId;
}

/** Handles one webhook delivery; idempotent by its delivery id. */
export async function handleGithubWebhook(deps: Deps, event: ReceivedEvent, hook: GithubWebhook = readGithubWebhook(deps, event)): Promise<WebhookOutcome> {
  const { type, payload } = hook;
  const c = candidateOf(type, payload);
  if (typeof c === 'string') return ignored(c, { event: type.slice(0, 50) });
  const command = parseCommand(c.body);
  if (!command) return ignored('the body is not /approve or /reject <reason>', { event: type });
  const deliveryId = githubDeliveryId(event, 'a vote');
  const [seen] = await deps.sql<{ approval_id: string }[]>`select approval_id from codex_kb.approval_votes where delivery_id = ${deliveryId}`;
  const approvalId = seen?.approval_id ?? (await pendingApprovalFor(deps.sql, c.repository, c.number));
  if (!approvalId) return ignored(`no pending approval for ${c.repository}#${c.number}`, { event: type, deliveryId });
  const trusted = (TRUSTED_ASSOCIATIONS as readonly string[]).includes(c.association);
  let vote: VoteOutcome;
  // loaded on the first vote, not at start: a vote decides an approval, which goes on through
  // the lifecycle and the policy engine (intake's cold start need not compile them)
  const { castVote } = await import('./votes.js');
  try {
    vote = await castVote(deps.sql, approvalId, {
      // a login's roles and teams are what the configuration says of it (FACTEUR_GITHUB_ROLES, FACTEUR_APPROVER_TEAMS)
      voter: { name: c.login, roles: rolesOf(deps.config.github.roles, c.login), teams: teamsOf(deps.config.api.teams, c.login) },
      decision: command.decision,
      reason: command.reason,
      source: 'github',
      deliveryId,
      authors: c.prAuthor ? [c.prAuthor] : [],
      refusal: trusted ? undefined : `author_association ${c.association.slice(0, 50)} is not one of ${TRUSTED_ASSOCIATIONS.join(', ')}`,
      actor: `github:${c.login.toLowerCase()}`,
    }, { eventsTopic: deps.config.topics.events, lifecycle: deps.config });
  } catch (err) {
    // Decided or expired between the look-up and the vote: a 409 would make KafkaSource
    // retry a delivery that can never succeed, so it is acknowledged instead.
    if (err instanceof ConflictError) return ignored(err.message, { event: type, deliveryId });
    throw err;
  }
  return { duplicate: vote.duplicate, body: { event: type, deliveryId, vote } };
}
