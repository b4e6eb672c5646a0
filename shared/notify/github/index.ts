// The GitHub notifier: an idea's one status comment on its issue, created once and edited
// in place, the gate's commit status on each pull request head, and one comment per
// incomplete issue delivery. Every send renders what the database says now, so all the
// deliveries due for one idea are one edit.
//
// Repeats are harmless by construction: the comment's id is recorded as soon as it is
// known; a crash before that leaves a comment the next attempt finds by its marker and
// edits. An unchanged body is not sent again, nor an unchanged commit status.
import { createHash } from 'node:crypto';
import type { NotifyConfig } from '../../config/index.js';
import type { Sql } from '../../db/index.js';
import { NonRetriableError, ValidationError } from '../../errors/index.js';
import type { Logger } from '../../log/index.js';
import { TERMINAL_IDEA_STATUSES, type IdeaStatus } from '../../lifecycle/states.js';
import { incompleteIssueOf } from '../classify.js';
import type { Delivery } from '../ledger.js';
import type { Lease, Sender } from '../sender.js';
import { createNotifyClient, createTokenSource, repoOf, type GitHubNotifyClient, type Repo } from './client.js';
import { dashboardLink, GATE_CONTEXT, gateStatus, ideaMarker, intakeMarker, renderIdeaComment, renderIncompleteComment } from './render.js';
import { readIdeaView, type IdeaView } from './state.js';

export { createNotifyClient, createTokenSource, type GitHubNotifyClient } from './client.js';

const digest = (body: string) => createHash('sha256').update(body).digest('hex');

interface Thread {
  comment_id: string | null;
  body_digest: string | null;
  statuses: Record<string, string>;
}

export function createGitHubSender(sql: Sql, cfg: NotifyConfig, log: Logger): Sender {
  const gh = cfg.github!;
  const api = createNotifyClient(gh, cfg.timeoutMs, createTokenSource(gh, cfg.timeoutMs));
  return {
    notifier: 'github',
    coalesce: true,
    minIntervalMs: gh.minIntervalMs,
    async send(subject, deliveries, lease) {
      // every request that changes something on GitHub renews the lease first (ledger.ts)
      const held = guarded(api, lease);
      if (subject.startsWith('idea:')) return { remoteId: await syncIdea(sql, cfg, held, subject.slice('idea:'.length), log) };
      let last: string | null = null;
      for (const d of deliveries) last = await commentIncomplete(held, d);
      return { remoteId: last };
    },
  };
}

/** The client whose writes each hold the subject's lease first; reads go straight through. */
function guarded(api: GitHubNotifyClient, lease: Lease): GitHubNotifyClient {
  return {
    findComment: (r, issue, marker) => api.findComment(r, issue, marker),
    createComment: async (r, issue, body) => (await lease.hold(), api.createComment(r, issue, body)),
    updateComment: async (r, id, body) => (await lease.hold(), api.updateComment(r, id, body)),
    createStatus: async (r, sha, s) => (await lease.hold(), api.createStatus(r, sha, s)),
  };
}

/** The idea's comment and statuses as they should be now; the comment's id. */
async function syncIdea(sql: Sql, cfg: NotifyConfig, api: GitHubNotifyClient, ideaId: string, log: Logger): Promise<string | null> {
  const view = await readIdeaView(sql, ideaId);
  if (!view) return null;
  const repo = repoOf(view.repository);
  const [thread] = await sql<Thread[]>`
    select comment_id::text, body_digest, statuses from codex_kb.github_status_comments where idea_id = ${ideaId}`;
  const body = renderIdeaComment(view, cfg.dashboardUrl);
  const hash = digest(body);
  let commentId = thread?.comment_id ? Number(thread.comment_id) : undefined;
  if (commentId === undefined || hash !== thread?.body_digest) {
    if (commentId === undefined || !(await api.updateComment(repo, commentId, body))) {
      commentId = await upsertByMarker(api, repo, view.issueNumber, ideaMarker(ideaId), body);
    }
  }
  // the render time as text, cast by the server: a timestamptz parameter would go through a JS
  // Date and lose its microseconds (then the sweep would take every render for a move)
  await sql`
    insert into codex_kb.github_status_comments (idea_id, repository, issue_number, comment_id, body_digest, open, rendered_progress_at)
    values (${ideaId}, ${view.repository}, ${view.issueNumber}, ${commentId}, ${hash},
            ${!TERMINAL_IDEA_STATUSES.includes(view.status as IdeaStatus)}, ${view.lastProgressAt}::text::timestamptz)
    on conflict (idea_id) do update
      set comment_id = excluded.comment_id, body_digest = excluded.body_digest, open = excluded.open,
          rendered_progress_at = excluded.rendered_progress_at, updated_at = now()`;
  await syncStatuses(sql, cfg, api, repo, view, thread?.statuses ?? {}, log);
  return String(commentId);
}

/** The comment that starts with `marker`, edited to `body`, or created when there is none. */
async function upsertByMarker(api: GitHubNotifyClient, repo: Repo, issue: number, marker: string, body: string): Promise<number> {
  const existing = await api.findComment(repo, issue, marker);
  if (existing) {
    if (existing.body !== body) await api.updateComment(repo, existing.id, body);
    return existing.id;
  }
  return api.createComment(repo, issue, body);
}

/**
 * The gate's status on every head whose last posted status differs; each recorded once posted.
 * A head GitHub refuses for good (a commit it does not have: 422) is recorded too and not
 * asked again, so it cannot fail the comment's deliveries; an outage is retried like them.
 */
async function syncStatuses(sql: Sql, cfg: NotifyConfig, api: GitHubNotifyClient, repo: Repo, view: IdeaView, posted: Record<string, string>, log: Logger): Promise<void> {
  const gate = gateStatus(view);
  const key = `${gate.state}:${gate.description}`;
  const targetUrl = dashboardLink(cfg.dashboardUrl, view.id);
  for (const head of view.heads) {
    if (posted[head.sha] === key) continue;
    try {
      await api.createStatus(repo, head.sha, { state: gate.state, context: GATE_CONTEXT, description: gate.description, ...(targetUrl ? { targetUrl } : {}) });
    } catch (err) {
      if (!(err instanceof ValidationError || err instanceof NonRetriableError)) throw err;
      log.warn('GitHub refused a commit status; not asked again for this state', { repository: view.repository, sha: head.sha, code: err.code, error: err.message });
    }
    await sql`
      update codex_kb.github_status_comments set statuses = statuses || jsonb_build_object(${head.sha}::text, ${key}::text)
       where idea_id = ${view.id}`;
  }
}

/** One comment per delivery id listing every problem; a repeat finds it by its marker. */
async function commentIncomplete(api: GitHubNotifyClient, d: Delivery): Promise<string | null> {
  const target = incompleteIssueOf(d.data);
  if (!target) return null;
  const repo = repoOf(target.repository);
  const body = renderIncompleteComment({ deliveryId: target.deliveryId, problems: (d.data.problems as unknown[]) ?? [] });
  return String(await upsertByMarker(api, repo, target.issueNumber, intakeMarker(target.deliveryId), body));
}
