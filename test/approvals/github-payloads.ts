// GitHub webhook payloads as GitHub documents them ("Webhook events and payloads":
// issue_comment, pull_request_review), trimmed of the URL fields nothing here reads but
// keeping their shape: the issue or pull request, the comment or review with its user and
// author_association, the repository and the sender.
import { createHmac, randomUUID } from 'node:crypto';

const userOf = (login: string, id: number) => ({
  login, id, node_id: `MDQ6VXNlcj${id}`, avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`, gravatar_id: '',
  url: `https://api.github.com/users/${login}`, html_url: `https://github.com/${login}`, type: 'User', site_admin: false,
});

const repositoryOf = (fullName: string) => {
  const [owner, name] = fullName.split('/') as [string, string];
  return {
    id: 1296269, node_id: 'MDEwOlJlcG9zaXRvcnkxMjk2MjY5', name, full_name: fullName, private: false,
    owner: { ...userOf(owner, 1), type: 'Organization' }, html_url: `https://github.com/${fullName}`, description: 'This your first repo!',
    fork: false, url: `https://api.github.com/repos/${fullName}`, default_branch: 'main', visibility: 'public',
  };
};

export interface CommentOptions {
  readonly repository: string;
  readonly number: number;
  readonly login: string;
  readonly body: string;
  readonly association?: string;
  readonly action?: string;
  /** The comment is on a pull request (GitHub sends pull requests' comments as issue comments). */
  readonly pullRequestAuthor?: string;
}

export function issueComment(o: CommentOptions): Record<string, unknown> {
  const repo = `https://api.github.com/repos/${o.repository}`;
  return {
    action: o.action ?? 'created',
    issue: {
      url: `${repo}/issues/${o.number}`, repository_url: repo, html_url: `https://github.com/${o.repository}/issues/${o.number}`,
      id: 1347 + o.number, node_id: 'MDU6SXNzdWUxMzQ3', number: o.number, title: 'Add dark mode', user: userOf(o.pullRequestAuthor ?? 'octocat', 583231),
      labels: [{ id: 208045946, node_id: 'MDU6TGFiZWwyMDgwNDU5NDY=', name: 'security', color: 'f29513', default: true }],
      state: 'open', locked: false, assignee: null, assignees: [], milestone: null, comments: 1,
      created_at: '2026-11-30T19:01:12Z', updated_at: '2026-12-01T16:02:00Z', closed_at: null, author_association: 'OWNER',
      body: 'The dashboard needs a dark theme.',
      ...(o.pullRequestAuthor ? { pull_request: { url: `${repo}/pulls/${o.number}`, html_url: `https://github.com/${o.repository}/pull/${o.number}`, diff_url: `https://github.com/${o.repository}/pull/${o.number}.diff`, patch_url: `https://github.com/${o.repository}/pull/${o.number}.patch`, merged_at: null } } : {}),
    },
    comment: {
      url: `${repo}/issues/comments/1146825`, html_url: `https://github.com/${o.repository}/issues/${o.number}#issuecomment-1146825`,
      issue_url: `${repo}/issues/${o.number}`, id: 1146825, node_id: 'IC_kwDOBX7w8s5ERBFx', user: userOf(o.login, 21031067),
      created_at: '2026-12-01T16:02:00Z', updated_at: '2026-12-01T16:02:00Z', author_association: o.association ?? 'MEMBER', body: o.body,
      reactions: { url: `${repo}/issues/comments/1146825/reactions`, total_count: 0, '+1': 0, '-1': 0 }, performed_via_github_app: null,
    },
    repository: repositoryOf(o.repository),
    sender: userOf(o.login, 21031067),
  };
}

export function pullRequestReview(o: Omit<CommentOptions, 'pullRequestAuthor'> & { readonly author: string; readonly state?: string }): Record<string, unknown> {
  const repo = `https://api.github.com/repos/${o.repository}`;
  return {
    action: o.action ?? 'submitted',
    review: {
      id: 80, node_id: 'MDE3OlB1bGxSZXF1ZXN0UmV2aWV3ODA=', user: userOf(o.login, 21031067), body: o.body, commit_id: 'ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091',
      submitted_at: '2026-12-01T16:05:00Z', state: o.state ?? 'approved', html_url: `https://github.com/${o.repository}/pull/${o.number}#pullrequestreview-80`,
      pull_request_url: `${repo}/pulls/${o.number}`, author_association: o.association ?? 'COLLABORATOR',
    },
    pull_request: {
      url: `${repo}/pulls/${o.number}`, id: 279147437, node_id: 'MDExOlB1bGxSZXF1ZXN0Mjc5MTQ3NDM3', number: o.number, state: 'open', locked: false,
      title: 'Dark mode: theme toggle', user: userOf(o.author, 5), body: 'Facteur idea …', head: { ref: 'facteur/abc/api', sha: 'ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091' },
      base: { ref: 'main', sha: '9049f1265b7d61be4a8904a9a27120d2064dab3b' }, author_association: 'NONE',
    },
    repository: repositoryOf(o.repository),
    sender: userOf(o.login, 21031067),
  };
}

/** The record as the upstream producer publishes it: raw body, GitHub's headers as Kafka headers. */
export function webhookRecord(event: string, payload: Record<string, unknown>, o: { secret?: string; delivery?: string; signature?: string; headers?: boolean } = {}) {
  const body = JSON.stringify(payload);
  const delivery = o.delivery ?? randomUUID();
  const signature = o.signature ?? (o.secret ? `sha256=${createHmac('sha256', o.secret).update(body).digest('hex')}` : undefined);
  const kafkaHeaders: Record<string, string> = o.headers === false ? {} : {
    'X-GitHub-Event': event, 'X-GitHub-Delivery': delivery, 'X-GitHub-Hook-ID': '292430182', ...(signature ? { 'X-Hub-Signature-256': signature } : {}),
  };
  return { topic: 'github.webhook.events', key: delivery, body, kafkaHeaders, delivery };
}
