// Read models behind the status API: what an operator sees of ideas, tasks and runs.
import type { Queryable } from '../db/index.js';
import { ValidationError, type Issue } from '../errors/index.js';

import { IDEA_STATUSES } from '../lifecycle/states.js';
import { isUuid } from '../validation/index.js';

export { IDEA_STATUSES } from '../lifecycle/states.js';
export { getDeadLetter, listDeadLetters, parseDeadLetterQuery, PREVIEW_BYTES, type DeadLetterItem, type DeadLetterPage, type DeadLetterQuery } from './dead-letters.js';
export { listCosts, parseCostQuery, type CostDay, type CostQuery, type IdeaCost } from './costs.js';
import { ideaCostView, type IdeaCost } from './costs.js';
import { traceIdOf } from '../telemetry/traceparent.js';

export interface IdeaSummary {
  id: string;
  title: string;
  status: string;
  statusReason: string | null;
  sourceType: string;
  sourceRef: string;
  repository: string;
  priority: string;
  createdAt: string;
  updatedAt: string;
}

export interface IdeaPage {
  items: IdeaSummary[];
  nextCursor: string | null;
}

export interface ListQuery {
  status?: string;
  repository?: string;
  cursor?: string;
  limit: number;
}

export function parseListQuery(q: URLSearchParams): ListQuery {
  const issues: Issue[] = [];
  const out: ListQuery = { limit: 50 };
  const status = q.get('status');
  if (status !== null) {
    if ((IDEA_STATUSES as readonly string[]).includes(status)) out.status = status;
    else issues.push({ path: 'status', message: `must be one of ${IDEA_STATUSES.join(', ')}` });
  }
  const repository = q.get('repository');
  if (repository !== null) {
    if (/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) out.repository = repository.toLowerCase();
    else issues.push({ path: 'repository', message: 'must be owner/name' });
  }
  const limit = q.get('limit');
  if (limit !== null) {
    const n = Number(limit);
    if (Number.isInteger(n) && n >= 1 && n <= 200) out.limit = n;
    else issues.push({ path: 'limit', message: 'must be an integer from 1 to 200' });
  }
  const cursor = q.get('cursor');
  if (cursor !== null) {
    if (decodeCursor(cursor)) out.cursor = cursor;
    else issues.push({ path: 'cursor', message: 'is not a cursor returned by this API' });
  }
  for (const key of q.keys()) {
    if (!['status', 'repository', 'limit', 'cursor'].includes(key)) issues.push({ path: key, message: 'unknown query parameter' });
  }
  if (issues.length) throw new ValidationError('invalid query', issues);
  return out;
}

function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(`${createdAt}|${id}`, 'utf8').toString('base64url');
}

const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
/** A real instant: JavaScript rolls `02-30` over to March, PostgreSQL refuses it. */
function isCursorTime(s: string): boolean {
  const t = Date.parse(s);
  return CURSOR_TIME.test(s) && !Number.isNaN(t) && new Date(t).toISOString().slice(0, 19) === s.slice(0, 19);
}

function decodeCursor(cursor: string): { createdAt: string; id: string } | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const [createdAt, id, extra] = text.split('|');
  // exactly what encodeCursor wrote (to_char below): anything looser (`1|<uuid>` parses as a
  // date in JavaScript) would reach PostgreSQL's timestamptz parser and fail there as a 500
  if (extra !== undefined || !createdAt || !id || !isUuid(id) || !isCursorTime(createdAt)) return undefined;
  return { createdAt, id };
}

type Row = {
  id: string; title: string; status: string; status_reason: string | null; source_type: string; source_ref: string;
  repository: string; priority: string; created_at: Date; updated_at: Date; created_text: string;
};

export async function listIdeas(sql: Queryable, q: ListQuery): Promise<IdeaPage> {
  const after = q.cursor ? decodeCursor(q.cursor) : undefined;
  // The cursor carries created_at at full microsecond precision (as text), so the
  // (created_at, id) keyset never skips or repeats a row between pages.
  const rows = await sql<Row[]>`
    select id, title, status, status_reason, source_type, source_ref, repository, priority, created_at, updated_at,
           to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_text
      from codex_kb.ideas
     where (${q.status ?? null}::text is null or status = ${q.status ?? null})
       and (${q.repository ?? null}::text is null or repository = ${q.repository ?? null})
       and (${after?.createdAt ?? null}::timestamptz is null
            or (created_at, id) < (${after?.createdAt ?? null}::timestamptz, ${after?.id ?? null}::uuid))
     order by created_at desc, id desc
     limit ${q.limit + 1}`;
  const more = rows.length > q.limit;
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    items: page.map((r) => ({
      id: r.id,
      title: r.title,
      status: r.status,
      statusReason: r.status_reason,
      sourceType: r.source_type,
      sourceRef: r.source_ref,
      repository: r.repository,
      priority: r.priority,
      createdAt: r.created_at.toISOString(),
      updatedAt: r.updated_at.toISOString(),
    })),
    nextCursor: more && last ? encodeCursor(last.created_text, last.id) : null,
  };
}

export interface IdeaDetail {
  idea: Record<string, unknown>;
  tasks: Record<string, unknown>[];
  runs: Record<string, unknown>[];
  events: Record<string, unknown>[];
  /** Policy findings that did not pass (warnings and failures). */
  findings: Record<string, unknown>[];
  approvals: Record<string, unknown>[];
  /** What the idea's runs reported, by stage, against its budget. */
  cost: IdeaCost;
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export async function getIdea(sql: Queryable, id: string): Promise<IdeaDetail | undefined> {
  if (!isUuid(id)) return undefined;
  const [idea] = await sql`select * from codex_kb.ideas where id = ${id}`;
  if (!idea) return undefined;
  const [tasks, deps, runs, events, findings, approvals, cost] = await Promise.all([
    sql`select * from codex_kb.tasks where idea_id = ${id} order by created_at, key`,
    sql`select d.task_id, t.key, d.dependency_type, d.artifact_kind
          from codex_kb.task_dependencies d join codex_kb.tasks t on t.id = d.depends_on_task_id
         where t.idea_id = ${id} order by t.key`,
    sql`select * from codex_kb.task_runs where idea_id = ${id} order by queued_at, attempt`,
    sql`select id, run_id, task_id, seq, event_type, actor, payload, emitted_at
          from codex_kb.run_events where idea_id = ${id} order by id limit 500`,
    // what is shown: every finding but passes, skips and record-only (`evaluate`) ones
    sql`select checkpoint, task_id, run_id, policy, rule, result, severity, mode, enforced, would_block, message, suggested_fix,
               effective_policy_hash, created_at
          from codex_kb.policy_findings where idea_id = ${id} and result not in ('pass', 'skip') and mode <> 'evaluate' order by id`,
    sql`select id, task_id, checkpoint, reason, status, requested_by, decided_by, created_at, decided_at
          from codex_kb.approvals where idea_id = ${id} order by created_at`,
    ideaCostView(sql, id, idea.budget as IdeaCost['budget']['limits'] | null),
  ]);
  return {
    idea: {
      id: idea.id,
      title: idea.title,
      status: idea.status,
      statusReason: idea.status_reason,
      sourceType: idea.source_type,
      sourceRef: idea.source_ref,
      repository: idea.repository,
      base: idea.base,
      priority: idea.priority,
      labels: idea.labels,
      autonomyLevel: idea.autonomy_level,
      riskFlags: idea.risk_flags,
      budget: idea.budget,
      initiator: idea.initiator,
      spec: idea.payload,
      intent: idea.intent,
      intentDigest: idea.intent_digest,
      intentAnchor: idea.intent_anchor,
      // intent discipline (seed 003): what planning found and what it left open, beside the anchor
      toolchainHypotheses: (idea.intent as { toolchainHypotheses?: unknown } | null)?.toolchainHypotheses ?? [],
      openQuestions: (idea.intent as { openQuestions?: unknown } | null)?.openQuestions ?? [],
      // one trace per idea (README "Tracing"): 32 hex, or null for an idea from before tracing
      traceId: traceIdOf(idea.trace_context),
      createdAt: iso(idea.created_at as Date),
      updatedAt: iso(idea.updated_at as Date),
    },
    tasks: tasks.map((t) => ({
      id: t.id,
      key: t.key,
      stage: t.stage,
      state: t.state,
      stateReason: t.state_reason,
      // a frozen task's wake-up (and a retry's): the window's end
      notBefore: iso(t.not_before as Date | null),
      title: t.title,
      attempts: t.attempts,
      maxAttempts: t.max_attempts,
      risk: t.risk,
      dependsOn: deps
        .filter((d) => d.task_id === t.id)
        .map((d) => ({ key: d.key, type: d.dependency_type, ...(d.artifact_kind ? { artifact: d.artifact_kind } : {}) })),
      createdAt: iso(t.created_at as Date),
      updatedAt: iso(t.updated_at as Date),
    })),
    runs: runs.map((r) => ({
      id: r.id,
      taskId: r.task_id,
      attempt: r.attempt,
      status: r.status,
      workflowName: r.external_run_id,
      workflowUid: r.workflow_uid,
      progress: r.progress,
      errorCode: r.error_code,
      errorMessage: r.error_message,
      usage: r.usage,
      costUsd: Number(r.cost_usd),
      traceId: runTraceId(r.trace_context, idea.trace_context),
      queuedAt: iso(r.queued_at as Date),
      startedAt: iso(r.started_at as Date),
      completedAt: iso(r.completed_at as Date),
    })),
    events: events.map((e) => ({
      id: e.id,
      runId: e.run_id,
      taskId: e.task_id,
      seq: e.seq,
      type: e.event_type,
      actor: e.actor,
      payload: e.payload,
      at: iso(e.emitted_at as Date),
    })),
    findings: findings.map((f) => ({
      checkpoint: f.checkpoint, taskId: f.task_id, runId: f.run_id, policy: f.policy, rule: f.rule, result: f.result, severity: f.severity,
      mode: f.mode, enforced: f.enforced, wouldBlock: f.would_block, message: f.message, suggestedFix: f.suggested_fix,
      effectivePolicyHash: f.effective_policy_hash, at: iso(f.created_at as Date),
    })),
    approvals: approvals.map((a) => ({
      id: a.id, taskId: a.task_id, checkpoint: a.checkpoint, reason: a.reason, status: a.status,
      requestedBy: a.requested_by, decidedBy: a.decided_by, requestedAt: iso(a.created_at as Date), decidedAt: iso(a.decided_at as Date),
    })),
    cost,
  };
}

/** A run's trace: its own context once submitted, its idea's before (the same trace id). */
function runTraceId(run: unknown, idea: unknown): string | null {
  return traceIdOf(run) ?? traceIdOf(idea);
}

export async function getRun(sql: Queryable, id: string): Promise<Record<string, unknown> | undefined> {
  if (!isUuid(id)) return undefined;
  const [r] = await sql`
    select r.*, t.key as task_key, i.trace_context as idea_trace_context
      from codex_kb.task_runs r join codex_kb.tasks t on t.id = r.task_id join codex_kb.ideas i on i.id = r.idea_id
     where r.id = ${id}`;
  if (!r) return undefined;
  const [events, artifacts] = await Promise.all([
    sql`select seq, event_type, actor, payload, emitted_at from codex_kb.run_events where run_id = ${id} order by id`,
    sql`select id, artifact_type, checksum, data, created_at from codex_kb.artifacts where run_id = ${id} order by created_at`,
  ]);
  return {
    id: r.id, ideaId: r.idea_id, taskId: r.task_id, taskKey: r.task_key, stage: r.stage, attempt: r.attempt, status: r.status,
    workflowName: r.external_run_id, workflowUid: r.workflow_uid, namespace: r.namespace, progress: r.progress,
    errorCode: r.error_code, errorMessage: r.error_message, usage: r.usage, costUsd: Number(r.cost_usd),
    traceId: runTraceId(r.trace_context, r.idea_trace_context),
    queuedAt: iso(r.queued_at as Date), submittedAt: iso(r.submitted_at as Date), startedAt: iso(r.started_at as Date),
    completedAt: iso(r.completed_at as Date), lastHeartbeatAt: iso(r.last_heartbeat_at as Date),
    events: events.map((e) => ({ seq: e.seq, type: e.event_type, actor: e.actor, payload: e.payload, at: iso(e.emitted_at as Date) })),
    artifacts: artifacts.map((a) => ({ id: a.id, kind: a.artifact_type, checksum: a.checksum, data: a.data, createdAt: iso(a.created_at as Date) })),
  };
}
