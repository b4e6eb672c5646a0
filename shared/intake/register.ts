// Registering what an inbound delivery asks for (an idea and/or a task) in ONE statement:
// the idea and task upserts, the audit entry, the outbox event and the delivery's ledger
// row either all commit or none does. The ledger insert is a plain INSERT on the delivery
// key, last in the statement: a redelivery fails it with a unique violation, which rolls
// back the whole statement, and the caller answers with the outcome already recorded.
// One round trip per event, no explicit transaction, no lock held across round trips.
import type { Sender } from '../auth/index.js';
import type { Queryable } from '../db/index.js';
import { isContention, PgCode, pgCode } from '../db/index.js';

export interface DeliveryRef {
  /** The idempotency key: `github-delivery:<id>`, `idea-spec:<id>` or `ce:<source>#<id>`. */
  readonly key: string;
  readonly deliveryId: string | undefined;
  readonly kind: 'idea_spec' | 'codex_task_proto' | 'codex_task_json';
  readonly topic: string | undefined;
  readonly ceSource: string;
  readonly ceId: string;
  readonly rawDigest: string;
}

export interface IdeaDraft {
  readonly sourceType: 'github_issue' | 'discord' | 'api';
  readonly sourceRef: string;
  readonly title: string;
  readonly repository: string;
  readonly base: string;
  readonly priority: 'low' | 'normal' | 'high' | 'urgent';
  readonly labels: readonly string[];
  readonly autonomyLevel: 'L0' | 'L1' | 'L2' | 'L3';
  readonly payload: unknown;
  readonly intent: unknown;
  readonly intentDigest: string | null;
  readonly intentAnchor: string | null;
  readonly budget: unknown;
  readonly initiator: unknown;
  readonly issueNumber: string | null;
}

export interface TaskDraft {
  readonly key: string;
  readonly stage: 'planning' | 'implementation' | 'review';
  readonly title: string;
  readonly description: string;
  readonly prompt: string | null;
  readonly branch: string | null;
  readonly metadata: unknown;
  readonly maxAttempts: number;
}

export interface Registration {
  readonly ideaId: string;
  readonly taskId: string;
  readonly duplicate: boolean;
  /** False when the delivery attached to an idea that already existed. */
  readonly ideaCreated: boolean;
  /** For a duplicate: whether the redelivered bytes equal the first delivery's. */
  readonly sameContent: boolean;
}

export interface RegisterInput {
  readonly delivery: DeliveryRef;
  readonly idea: IdeaDraft;
  readonly task: TaskDraft;
  readonly actor: string;
  readonly traceId: string | null;
  readonly traceContext: string | null;
  readonly eventsTopic: string;
  /** Who sent it, as shared/auth verified (null: not known). */
  readonly sender?: Sender | null;
}

export const PRIORITY_RANK = { low: 0, normal: 1, high: 2, urgent: 3 } as const;

/** How many times a registration that lost a race (deadlock, serialization failure) is run again. */
const CONTENTION_RETRIES = 4;

/**
 * Registers one delivery. The statement upserts the idea row, then the task row; the
 * scheduler's claim locks the task, then updates the idea, so a redelivery arriving while
 * its task is being claimed can deadlock with the claim, and the server aborts one of the
 * two. Nothing of an aborted statement was kept, so it is simply run again (found by
 * local mode's redelivery test on a loaded CI machine: a 500 where a duplicate was due).
 * Only with a pool: inside a caller's transaction an aborted statement aborts it all.
 */
export async function register(sql: Queryable, input: RegisterInput): Promise<Registration> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await registerOnce(sql, input);
    } catch (err) {
      if (!isContention(err) || attempt >= CONTENTION_RETRIES || isTransaction(sql)) throw err;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (attempt + 1)));
    }
  }
}

function isTransaction(sql: Queryable): boolean {
  return typeof (sql as { savepoint?: unknown }).savepoint === 'function';
}

async function registerOnce(sql: Queryable, input: RegisterInput): Promise<Registration> {
  const { delivery: d, idea: i, task: t } = input;
  try {
    const [row] = await sql<{ idea_id: string; task_id: string; idea_created: boolean }[]>`
      with idea as (
        insert into codex_kb.ideas as x (source_type, source_ref, title, repository, base, priority, labels,
          autonomy_level, payload, intent, intent_digest, raw_digest, intent_anchor, budget, initiator,
          trace_context, issue_number)
        values (${i.sourceType}, ${i.sourceRef}, ${i.title}, ${i.repository}, ${i.base}, ${i.priority},
          array(select jsonb_array_elements_text(${sql.json(i.labels as never)}::jsonb)), ${i.autonomyLevel}, ${sql.json(i.payload as never)}, ${i.intent === null ? null : sql.json(i.intent as never)},
          ${i.intentDigest}, ${d.rawDigest}, ${i.intentAnchor}, ${sql.json(i.budget as never)}, ${i.initiator === null ? null : sql.json(i.initiator as never)},
          ${input.traceContext}, ${i.issueNumber}::bigint)
        -- (labels as JSON: the first run of this statement on a connection sent sql.array(…)
        -- as a plain string, "malformed array literal", refusing every labelled Idea Spec)
        -- a no-op update, so RETURNING yields the existing row even when another
        -- transaction inserted it a moment ago (DO NOTHING would return nothing)
        on conflict (source_type, source_ref) do update set updated_at = x.updated_at
        returning x.id, (x.xmax = 0) as created
      ), task as (
        insert into codex_kb.tasks as y (idea_id, key, stage, title, description, prompt, repository, branch,
          base, priority_rank, metadata, max_attempts)
        select idea.id, ${t.key}, ${t.stage}, ${t.title}, ${t.description}, ${t.prompt}, ${i.repository},
          ${t.branch}, ${i.base}, ${PRIORITY_RANK[i.priority]}, ${sql.json(t.metadata as never)}, ${t.maxAttempts}
        from idea
        on conflict (idea_id, key) do update set updated_at = y.updated_at
        returning y.id, y.idea_id, (y.xmax = 0) as created
      ), ledger as (
        insert into codex_kb.deliveries (delivery_key, delivery_id, kind, topic, ce_source, ce_id, idea_id, task_id, outcome, sender)
        select ${d.key}, ${d.deliveryId ?? null}, ${d.kind}, ${d.topic ?? null}, ${d.ceSource}, ${d.ceId}, task.idea_id, task.id,
          jsonb_build_object('ideaId', task.idea_id, 'taskId', task.id, 'kind', ${d.kind}::text, 'rawDigest', ${d.rawDigest}::text),
          ${input.sender ? sql.json(input.sender as never) : null}
        from task
        returning delivery_key
      ), audit as (
        insert into codex_kb.audit_log (actor, action, subject_type, subject_id, idea_id, details, trace_id)
        select ${input.actor}, case when idea.created then 'idea.registered' else 'task.attached' end,
          'idea', idea.id::text, idea.id,
          jsonb_build_object('deliveryKey', ${d.key}::text, 'kind', ${d.kind}::text, 'taskId', task.id,
            'taskKey', ${t.key}::text, 'stage', ${t.stage}::text, 'sourceRef', ${i.sourceRef}::text),
          ${input.traceId}
        from idea, task
      ), event as (
        insert into codex_kb.outbox (type, source, subject, topic, key, data, trace_context)
        select case when idea.created then 'facteur.idea.registered' else 'facteur.task.attached' end,
          '/facteur/intake', idea.id::text, ${input.eventsTopic}, idea.id::text,
          jsonb_build_object('ideaId', idea.id, 'taskId', task.id, 'stage', ${t.stage}::text,
            'taskCreated', task.created, 'sourceType', ${i.sourceType}::text, 'sourceRef', ${i.sourceRef}::text,
            'repository', ${i.repository}::text, 'deliveryKey', ${d.key}::text),
          ${input.traceContext}
        from idea, task
      )
      select task.id as task_id, task.idea_id, idea.created as idea_created
      from task, idea, ledger`;
    if (!row) throw new Error('registration statement returned no row');
    return { ideaId: row.idea_id, taskId: row.task_id, duplicate: false, ideaCreated: row.idea_created, sameContent: true };
  } catch (err) {
    if (pgCode(err) === PgCode.UNIQUE_VIOLATION && (err as { constraint_name?: string }).constraint_name === 'deliveries_pkey') {
      const first = await recordedOutcome(sql, d.key);
      // Bytes are comparable only within one encoding (a protobuf task and its JSON twin differ).
      if (first) return { ...first, sameContent: first.kind !== d.kind || first.rawDigest === d.rawDigest };
    }
    throw err;
  }
}

export async function recordedOutcome(
  sql: Queryable,
  key: string,
): Promise<(Omit<Registration, 'sameContent'> & { rawDigest: string | undefined; kind: string | undefined }) | undefined> {
  const [row] = await sql<{ outcome: { ideaId: string; taskId: string; rawDigest?: string; kind?: string } }[]>`
    select outcome from codex_kb.deliveries where delivery_key = ${key}`;
  if (!row) return undefined;
  return {
    ideaId: row.outcome.ideaId,
    taskId: row.outcome.taskId,
    duplicate: true,
    ideaCreated: false,
    rawDigest: row.outcome.rawDigest,
    kind: row.outcome.kind,
  };
}
