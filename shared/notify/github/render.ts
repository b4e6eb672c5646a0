// The idea's status comment and its commit statuses, as pure functions of what was read.
// The comment starts with a hidden marker naming the idea: after a crash between creating
// the comment and recording its id, the next attempt finds it by that marker and edits it
// instead of creating a second one. User text is inert (../text.ts).
import { inline, plain } from '../text.js';
import { TASKS_SHOWN, type IdeaView } from './state.js';

export const ideaMarker = (ideaId: string) => `<!-- facteur:idea:${ideaId} -->`;
export const intakeMarker = (deliveryId: string) => `<!-- facteur:intake:${encodeURIComponent(deliveryId)} -->`;

/** GitHub refuses bodies past 65 536 characters; what is cut is the tail of a list. */
const BODY_MAX = 60_000;

const STATUS_WORDS: Readonly<Record<string, string>> = {
  registered: '📥 registered', planning: '🧭 planning', plan_ready: '🗺️ plan ready', awaiting_dependencies: '⏳ waiting on dependencies',
  running_tasks: '🛠️ implementing', qa_review: '🔍 in review', integration: '🔀 integrating', deployment: '🚀 deploying',
  monitoring: '📈 monitoring', completed: '✅ completed', remediation: '🩹 remediating', paused: '⏸️ paused',
  awaiting_approval: '✋ awaiting approval', blocked: '⛔ blocked', cancelled: '🚫 cancelled', failed: '❌ failed',
};

export function dashboardLink(dashboardUrl: string | undefined, ideaId: string): string | undefined {
  return dashboardUrl ? `${dashboardUrl}/ideas/${ideaId}` : undefined;
}

export function renderIdeaComment(view: IdeaView, dashboardUrl: string | undefined): string {
  const lines = [ideaMarker(view.id), `### Facteur: ${inline(view.title, 200)}`, ''];
  lines.push(`**Stage:** ${STATUS_WORDS[view.status] ?? inline(view.status, 40)}${view.statusReason ? ` — ${inline(view.statusReason, 500)}` : ''}`);
  if (view.tasks.length > 0) {
    lines.push('', '| Task | Stage | State |', '| --- | --- | --- |');
    for (const t of view.tasks.slice(0, TASKS_SHOWN)) lines.push(`| ${inline(t.title || t.key, 120)} | ${t.stage} | ${t.state} |`);
    if (view.tasks.length > TASKS_SHOWN) lines.push('', `…and more tasks: the dashboard lists them all.`);
  }
  if (view.pullRequests.length > 0) lines.push('', `**Pull requests:** ${view.pullRequests.map((n) => `#${n}`).join(', ')}`);
  if (view.findings.length > 0) {
    lines.push('', '**Findings needing attention:**');
    for (const f of view.findings) {
      lines.push(`- ${f.result === 'fail' ? '🔴' : f.result === 'error' ? '🟠' : '🟡'} \`${plain(f.checkpoint, 40)}\` ${inline(f.rule, 80)} (${f.severity}${f.wouldBlock ? ', would block' : ''}): ${inline(f.message, 300)}`);
    }
  }
  if (view.approval) {
    lines.push('', `**Approval needed** at \`${plain(view.approval.checkpoint, 40)}\`: ${inline(view.approval.reason, 500)}`,
      'Reply with `/approve` to let it go on, or `/reject <reason>` to stop it.');
  }
  const link = dashboardLink(dashboardUrl, view.id);
  if (link) lines.push('', `[Open in the Facteur dashboard](${link})`);
  const body = lines.join('\n');
  return body.length <= BODY_MAX ? body : `${body.slice(0, BODY_MAX)}\n\n…(cut: the dashboard has the rest)`;
}

export interface IncompleteIssue {
  readonly deliveryId: string;
  readonly problems: readonly unknown[];
}

/** One comment listing every field the issue's body missed (the idea template's headings). */
export function renderIncompleteComment(input: IncompleteIssue): string {
  const lines = [intakeMarker(input.deliveryId), '### Facteur could not take this issue as an idea yet', '',
    'The body does not follow the idea template. Edit the issue so that it answers:', ''];
  for (const p of input.problems.slice(0, 100)) {
    const { field, message } = (p ?? {}) as { field?: unknown; message?: unknown };
    lines.push(`- **${inline(field, 80) || 'body'}**: ${inline(message, 500)}`);
  }
  if (input.problems.length > 100) lines.push(`- …and ${input.problems.length - 100} more`);
  return lines.join('\n');
}

export type CommitState = 'pending' | 'success' | 'failure' | 'error';

/** The gate's commit status for the idea's stage: what a pull request's checks list shows. */
export function gateStatus(view: IdeaView): { state: CommitState; description: string } {
  const word = (STATUS_WORDS[view.status] ?? view.status).replace(/^\S+\s/, '');
  const state: CommitState =
    ['deployment', 'monitoring', 'completed'].includes(view.status) ? 'success'
      : ['blocked', 'failed'].includes(view.status) ? 'failure'
        : view.status === 'cancelled' ? 'error'
          : 'pending';
  // GitHub keeps 140 characters of a description
  return { state, description: plain(`Facteur: ${word}${view.statusReason ? ` — ${view.statusReason}` : ''}`, 140) };
}

export const GATE_CONTEXT = 'facteur/gate';
