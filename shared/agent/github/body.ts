// The pull request's description: which idea and task it delivers, the acceptance criteria
// a reviewer checks it against, and the run that wrote it. Titles and criteria are the
// user's text: Markdown in them is shown as typed, and an `@name` or `#12` in them pings or
// links nobody (a PR body is read by GitHub for mentions and cross-references).
import { ValidationError } from '../../errors/index.js';

export interface PullRequestBodyInput {
  readonly ideaId: string;
  readonly ideaTitle: string;
  readonly taskKey: string;
  readonly taskTitle: string;
  readonly acceptanceCriteria: readonly string[];
  readonly runId: string;
  /** Where the run's status can be followed (http or https). */
  readonly statusUrl?: string | undefined;
}

/** `text` on one line with Markdown, HTML, mentions and issue references neutralised. */
export function plainMarkdown(text: string): string {
  return text
    .replace(/[\r\n\t]+/g, ' ')
    // eslint-disable-next-line no-control-regex -- control characters are dropped
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .replace(/[\\`*_{}[\]()<>#+\-!|~@]/g, (c) => `\\${c}`)
    .trim();
}

/** A marker a later run can find the PR by, whatever a human edits around it. */
export function bodyMarker(input: Pick<PullRequestBodyInput, 'ideaId' | 'taskKey' | 'runId'>): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._:/-]/g, '_');
  return `<!-- facteur idea=${safe(input.ideaId)} task=${safe(input.taskKey)} run=${safe(input.runId)} -->`;
}

export function pullRequestBody(input: PullRequestBodyInput): string {
  let status: string | undefined;
  if (input.statusUrl !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(input.statusUrl);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:')) {
      throw new ValidationError('invalid status URL', [{ path: 'statusUrl', message: 'must be an http or https URL' }]);
    }
    status = u.href.replace(/[()<> ]/g, encodeURIComponent);
  }
  const criteria = input.acceptanceCriteria.length > 0
    ? input.acceptanceCriteria.map((c) => `- [ ] ${plainMarkdown(c)}`)
    : ['_none given_'];
  return [
    `Delivers task **${plainMarkdown(input.taskKey)}** — ${plainMarkdown(input.taskTitle)}`,
    `of idea **${plainMarkdown(input.ideaTitle)}** (\`${input.ideaId.replace(/`/g, '')}\`).`,
    '',
    '### Acceptance criteria',
    '',
    ...criteria,
    '',
    '---',
    `Written by Facteur run \`${input.runId.replace(/`/g, '')}\`${status ? ` · [run status](${status})` : ''}.`,
    '',
    bodyMarker(input),
    '',
  ].join('\n');
}
