// Ideas from GitHub issues (seed 001 §6.1): an `issues` webhook (topic github.webhook.events)
// whose action is `labeled` with FACTEUR_GITHUB_IDEA_LABEL, or `opened` with that label or
// with a body written on the idea template, becomes an Idea Spec; the issue's repository,
// number, title and labels are kept. One idea per issue: the delivery key is the issue's, so a
// redelivery or a second `labeled` finds the first registration. A body with missing or empty
// fields registers nothing: one `facteur.intake.issue_incomplete` event per delivery lists the
// problems, for the notifier to answer on the issue.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Queryable } from '../db/index.js';
import { ValidationError } from '../errors/index.js';
import type { IdeaSpec } from '../intent/index.js';
import { zodIssues } from '../validation/index.js';
import { specFrom, usableLabels, type FieldNames } from './spec.js';
import { HEADINGS, missingFields, parseTemplate, type FieldProblem } from './template.js';

const issuesEvent = z.looseObject({
  action: z.string().max(100),
  issue: z.looseObject({
    number: z.number().int().positive(),
    title: z.string().max(1000),
    body: z.string().nullable().optional(),
    labels: z.array(z.looseObject({ name: z.string().max(1000) })).max(1000).default([]),
    user: z.looseObject({ login: z.string().min(1).max(100) }).optional(),
    pull_request: z.unknown().optional(),
  }),
  label: z.looseObject({ name: z.string().max(1000) }).optional(),
  repository: z.looseObject({ full_name: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'must be owner/name') }),
});

const ISSUE_FIELDS: FieldNames = Object.freeze({
  title: 'title', goal: HEADINGS.goal, constraints: HEADINGS.constraints, successMetrics: HEADINGS.successMetrics,
  nonGoals: HEADINGS.nonGoals, repository: 'repository', labels: 'labels',
});

export type IssueDecision =
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'spec'; readonly spec: IdeaSpec; readonly key: string; readonly repository: string; readonly issueNumber: number }
  | { readonly kind: 'incomplete'; readonly repository: string; readonly issueNumber: number; readonly problems: readonly FieldProblem[] };

/** The idempotency key of an issue's idea: one per issue, whatever the delivery. */
export function issueKey(repository: string, number: number): string {
  return `github-issue:${repository.toLowerCase()}#${number}`;
}

export function decideIssue(payload: unknown, label: string): IssueDecision {
  const r = issuesEvent.safeParse(payload);
  if (!r.success) throw new ValidationError('invalid issues webhook', zodIssues(r.error));
  const p = r.data;
  const wanted = label.toLowerCase();
  const labels = p.issue.labels.map((l) => l.name);
  const labelled = labels.some((l) => l.toLowerCase() === wanted);
  const body = p.issue.body ?? '';
  const template = parseTemplate(body);
  if (p.issue.pull_request !== undefined) return { kind: 'ignored', reason: 'a pull request is not an idea' };
  if (p.action === 'labeled') {
    if (p.label?.name.toLowerCase() !== wanted) return { kind: 'ignored', reason: `labeled with another label than ${label}` };
  } else if (p.action === 'opened') {
    if (!labelled && template.present.size === 0) return { kind: 'ignored', reason: `opened without the ${label} label or the idea template's headings` };
  } else return { kind: 'ignored', reason: `issues ${p.action.slice(0, 50)} is not an idea (only opened, or labeled ${label})` };
  const repository = p.repository.full_name.toLowerCase();
  const missing = missingFields(template);
  const result = specFrom({
    title: p.issue.title, goal: template.goal, constraints: template.constraints, successMetrics: template.successMetrics, nonGoals: template.nonGoals,
    repository, labels: usableLabels(labels),
    ...(p.issue.user ? { initiator: { kind: 'github' as const, login: p.issue.user.login } } : {}),
    source: { type: 'github_issue', ref: `${repository}#${p.issue.number}` },
  }, ISSUE_FIELDS);
  // a missing section is said once, not again as the schema's "must not be empty"
  const problems = [...missing, ...(result.problems ?? []).filter((x) => !missing.some((m) => m.field === x.field))];
  if (problems.length) return { kind: 'incomplete', repository, issueNumber: p.issue.number, problems };
  return { kind: 'spec', spec: result.spec!, key: issueKey(repository, p.issue.number), repository, issueNumber: p.issue.number };
}

/** A stable event id per delivery: the outbox's unique event_id keeps a redelivery from writing it twice. */
export function incompleteEventId(deliveryId: string): string {
  const h = createHash('sha256').update(`facteur.intake.issue_incomplete\n${deliveryId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Writes `facteur.intake.issue_incomplete` once per delivery; false when it was already written. */
export async function recordIncomplete(
  sql: Queryable, topic: string, d: { repository: string; issueNumber: number; deliveryId: string; problems: readonly FieldProblem[] },
): Promise<boolean> {
  const data = { repository: d.repository, issueNumber: d.issueNumber, deliveryId: d.deliveryId, problems: d.problems };
  const rows = await sql`
    insert into codex_kb.outbox (event_id, type, source, subject, topic, key, data)
    values (${incompleteEventId(d.deliveryId)}, 'facteur.intake.issue_incomplete', '/facteur/intake', ${`${d.repository}#${d.issueNumber}`},
            ${topic}, ${d.repository}, ${sql.json(data as never)})
    on conflict (event_id) do nothing returning id`;
  return rows.length > 0;
}
