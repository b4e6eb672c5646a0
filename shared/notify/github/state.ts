// What an idea's status comment and its commit statuses show, read when they are sent (so a
// delivery that waited out an outage shows the idea as it is, not as it was).
import type { Queryable } from '../../db/index.js';

export interface IdeaView {
  readonly id: string;
  readonly title: string;
  readonly status: string;
  readonly statusReason: string | null;
  readonly repository: string;
  readonly issueNumber: number;
  /** As the database wrote it (text: a JS Date would drop its microseconds, and the sweep compare it). */
  readonly lastProgressAt: string;
  readonly tasks: readonly { key: string; stage: string; state: string; title: string }[];
  /** Pull request numbers integration reported. */
  readonly pullRequests: readonly number[];
  /** The last commit each implementation task reported on its branch: the pull request heads. */
  readonly heads: readonly { key: string; sha: string }[];
  readonly findings: readonly { checkpoint: string; rule: string; result: string; severity: string; message: string; wouldBlock: boolean }[];
  readonly approval: { id: string; checkpoint: string; reason: string } | null;
}

/** Plans can be large: the comment lists this many tasks, and says how many more there are. */
export const TASKS_SHOWN = 60;
const FINDINGS_SHOWN = 10;

export async function readIdeaView(sql: Queryable, ideaId: string): Promise<IdeaView | undefined> {
  const [idea] = await sql<{ id: string; title: string; status: string; status_reason: string | null; repository: string; issue_number: string | null; last_progress_at: string }[]>`
    select id::text, title, status, status_reason, repository, issue_number::text, last_progress_at::text
      from codex_kb.ideas where id = ${ideaId}`;
  if (!idea || idea.issue_number === null) return undefined;
  const [tasks, integrations, heads, findings, approvals] = await Promise.all([
    sql<{ key: string; stage: string; state: string; title: string }[]>`
      select key, stage, state, title from codex_kb.tasks where idea_id = ${ideaId}
       order by array_position(array['planning','implementation','review','integration','deploy'], stage), created_at, key
       limit ${TASKS_SHOWN + 1}`,
    sql<{ data: unknown }[]>`
      select data from codex_kb.artifacts where idea_id = ${ideaId} and artifact_type = 'integration' order by created_at limit 50`,
    sql<{ key: string; sha: string }[]>`
      select distinct on (a.task_id) t.key, a.data->>'head' as sha
        from codex_kb.artifacts a join codex_kb.tasks t on t.id = a.task_id
       where a.idea_id = ${ideaId} and a.artifact_type = 'diff-stats' and t.stage = 'implementation'
         and a.data->>'head' ~ '^[0-9a-f]{40}$'
       order by a.task_id, a.created_at desc
       limit 100`,
    sql<{ checkpoint: string; rule: string; result: string; severity: string; message: string; would_block: boolean }[]>`
      select checkpoint, rule, result, severity, message, would_block from codex_kb.policy_findings
       where idea_id = ${ideaId} and result in ('fail', 'warn', 'error')
       order by id desc limit ${FINDINGS_SHOWN}`,
    sql<{ id: string; checkpoint: string; reason: string }[]>`
      select id::text, checkpoint, reason from codex_kb.approvals
       where idea_id = ${ideaId} and status = 'pending' order by created_at desc limit 1`,
  ]);
  return {
    id: idea.id,
    title: idea.title,
    status: idea.status,
    statusReason: idea.status_reason,
    repository: idea.repository,
    issueNumber: Number(idea.issue_number),
    lastProgressAt: idea.last_progress_at,
    tasks,
    pullRequests: pullRequestsOf(integrations.map((r) => r.data)),
    heads: heads.sort((a, b) => a.key.localeCompare(b.key)),
    findings: findings.map((f) => ({ checkpoint: f.checkpoint, rule: f.rule, result: f.result, severity: f.severity, message: f.message, wouldBlock: f.would_block })),
    approval: approvals[0] ?? null,
  };
}

/** `pr` and `branches[].pr` of integration artifacts (shared/agent/stages.ts writes both). */
export function pullRequestsOf(artifacts: readonly unknown[]): number[] {
  const out = new Set<number>();
  const add = (v: unknown) => {
    const n = typeof v === 'string' && /^#?\d{1,9}$/.test(v) ? Number(v.replace('#', '')) : v;
    if (typeof n === 'number' && Number.isSafeInteger(n) && n > 0) out.add(n);
  };
  for (const a of artifacts) {
    const d = (a ?? {}) as { pr?: unknown; branches?: unknown };
    add(d.pr);
    if (Array.isArray(d.branches)) for (const b of d.branches.slice(0, 200)) add((b as { pr?: unknown } | null)?.pr);
  }
  return [...out].sort((a, b) => a - b);
}
