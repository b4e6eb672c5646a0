// Group commit for intake: registrations that arrive while others are in flight are
// written together, in ONE statement for the whole group, with the same all-or-nothing
// shape as a single registration (register.ts). A group never holds two deliveries with
// the same key or for the same idea (those wait for the next group), so the only way a
// group fails is a redelivery or bad data in it; then each of its members is registered
// on its own, and gets its own answer. Measured with `npm run bench -- intake`.
import type { Sql } from '../db/index.js';
import { register, PRIORITY_RANK, type RegisterInput, type Registration } from './register.js';

export interface Registrar {
  register(input: RegisterInput): Promise<Registration>;
  /** Counters: statements run for groups, members written that way, groups that fell back. */
  stats(): { groups: number; grouped: number; fallbacks: number };
}

interface Waiting {
  readonly input: RegisterInput;
  resolve(r: Registration): void;
  reject(err: unknown): void;
}

export function createGroupRegistrar(sql: Sql, opts: { maxGroup?: number; maxInFlight?: number } = {}): Registrar {
  const maxGroup = opts.maxGroup ?? 64;
  const maxInFlight = opts.maxInFlight ?? 2;
  const queue: Waiting[] = [];
  let inFlight = 0;
  let scheduled = false;
  const counts = { groups: 0, grouped: 0, fallbacks: 0 };

  const pump = () => {
    scheduled = false;
    while (queue.length > 0 && inFlight < maxInFlight) {
      const group = takeGroup(queue, maxGroup);
      inFlight++;
      void runGroup(sql, group, counts).finally(() => {
        inFlight--;
        if (queue.length > 0) schedule();
      });
    }
  };
  // setImmediate: everything that arrived in this turn of the event loop joins the group
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(pump);
    }
  };
  return {
    register(input) {
      return new Promise<Registration>((resolve, reject) => {
        queue.push({ input, resolve, reject });
        schedule();
      });
    },
    stats: () => ({ ...counts }),
  };
}

function takeGroup(queue: Waiting[], max: number): Waiting[] {
  const keys = new Set<string>();
  const ideas = new Set<string>();
  const group: Waiting[] = [];
  const rest: Waiting[] = [];
  for (const w of queue) {
    const idea = `${w.input.idea.sourceType}\u0000${w.input.idea.sourceRef}`;
    if (group.length < max && !keys.has(w.input.delivery.key) && !ideas.has(idea)) {
      keys.add(w.input.delivery.key);
      ideas.add(idea);
      group.push(w);
    } else rest.push(w);
  }
  queue.splice(0, queue.length, ...rest);
  return group;
}

async function runGroup(sql: Sql, group: Waiting[], counts: { groups: number; grouped: number; fallbacks: number }): Promise<void> {
  if (group.length === 1) {
    const [w] = group as [Waiting];
    await register(sql, w.input).then(w.resolve, w.reject);
    return;
  }
  let rows: { n: number; idea_id: string; task_id: string; idea_created: boolean }[];
  try {
    rows = await registerGroup(sql, group.map((w) => w.input));
  } catch {
    // A redelivery or bad data somewhere in the group: each on its own, each its answer.
    counts.fallbacks++;
    await Promise.all(group.map((w) => register(sql, w.input).then(w.resolve, w.reject)));
    return;
  }
  counts.groups++;
  counts.grouped += rows.length;
  for (const r of rows) {
    group[r.n]!.resolve({ ideaId: r.idea_id, taskId: r.task_id, duplicate: false, ideaCreated: r.idea_created, sameContent: true });
  }
  for (const [n, w] of group.entries()) {
    if (!rows.some((r) => r.n === n)) w.reject(new Error('group registration returned no row for a member'));
  }
}

function registerGroup(sql: Sql, inputs: readonly RegisterInput[]) {
  const rows = inputs.map((x, n) => ({
    n,
    delivery_key: x.delivery.key, delivery_id: x.delivery.deliveryId ?? null, kind: x.delivery.kind, topic: x.delivery.topic ?? null,
    ce_source: x.delivery.ceSource, ce_id: x.delivery.ceId, raw_digest: x.delivery.rawDigest,
    source_type: x.idea.sourceType, source_ref: x.idea.sourceRef, title: x.idea.title, repository: x.idea.repository,
    base: x.idea.base, priority: x.idea.priority, priority_rank: PRIORITY_RANK[x.idea.priority], labels: x.idea.labels,
    autonomy_level: x.idea.autonomyLevel, payload: x.idea.payload, intent: x.idea.intent, intent_digest: x.idea.intentDigest,
    intent_anchor: x.idea.intentAnchor, budget: x.idea.budget, initiator: x.idea.initiator, issue_number: x.idea.issueNumber,
    task_key: x.task.key, stage: x.task.stage, task_title: x.task.title, description: x.task.description, prompt: x.task.prompt,
    branch: x.task.branch, metadata: x.task.metadata, max_attempts: x.task.maxAttempts,
    actor: x.actor, trace_id: x.traceId, trace_context: x.traceContext, events_topic: x.eventsTopic,
    sender: x.sender ?? null,
  }));
  return sql<{ n: number; idea_id: string; task_id: string; idea_created: boolean }[]>`
    with input as (
      select * from jsonb_to_recordset(${sql.json(rows as never)}) as x(
        n int, delivery_key text, delivery_id text, kind text, topic text, ce_source text, ce_id text, raw_digest text,
        source_type text, source_ref text, title text, repository text, base text, priority text, priority_rank smallint,
        labels jsonb, autonomy_level text, payload jsonb, intent jsonb, intent_digest text, intent_anchor text,
        budget jsonb, initiator jsonb, issue_number bigint, task_key text, stage text, task_title text, description text,
        prompt text, branch text, metadata jsonb, max_attempts int, actor text, trace_id text, trace_context text, events_topic text,
        sender jsonb)
    ), idea as (
      insert into codex_kb.ideas as x (source_type, source_ref, title, repository, base, priority, labels, autonomy_level,
        payload, intent, intent_digest, raw_digest, intent_anchor, budget, initiator, trace_context, issue_number)
      -- (labels arrive as a JSON array: jsonb_to_recordset reads a text[] column only from an array literal)
      select source_type, source_ref, title, repository, base, priority, array(select jsonb_array_elements_text(labels)), autonomy_level, payload, intent,
             intent_digest, raw_digest, intent_anchor, budget, initiator, trace_context, issue_number
        from input order by n
      on conflict (source_type, source_ref) do update set updated_at = x.updated_at
      returning x.id, x.source_type, x.source_ref, (x.xmax = 0) as created
    ), task as (
      insert into codex_kb.tasks as y (idea_id, key, stage, title, description, prompt, repository, branch, base,
        priority_rank, metadata, max_attempts)
      select idea.id, i.task_key, i.stage, i.task_title, i.description, i.prompt, i.repository, i.branch, i.base,
             i.priority_rank, i.metadata, i.max_attempts
        from input i join idea using (source_type, source_ref) order by i.n
      on conflict (idea_id, key) do update set updated_at = y.updated_at
      returning y.id, y.idea_id, y.key, (y.xmax = 0) as created
    ), joined as (
      select i.*, idea.id as idea_id, idea.created as idea_created, task.id as task_id, task.created as task_created
        from input i join idea using (source_type, source_ref) join task on task.idea_id = idea.id and task.key = i.task_key
    ), ledger as (
      insert into codex_kb.deliveries (delivery_key, delivery_id, kind, topic, ce_source, ce_id, idea_id, task_id, outcome, sender)
      select delivery_key, delivery_id, kind, topic, ce_source, ce_id, idea_id, task_id,
             jsonb_build_object('ideaId', idea_id, 'taskId', task_id, 'kind', kind, 'rawDigest', raw_digest), sender
        from joined order by n
      returning delivery_key
    ), audit as (
      insert into codex_kb.audit_log (actor, action, subject_type, subject_id, idea_id, details, trace_id)
      select actor, case when idea_created then 'idea.registered' else 'task.attached' end, 'idea', idea_id::text, idea_id,
             jsonb_build_object('deliveryKey', delivery_key, 'kind', kind, 'taskId', task_id, 'taskKey', task_key,
                                'stage', stage, 'sourceRef', source_ref),
             trace_id
        from joined order by n
    ), event as (
      insert into codex_kb.outbox (type, source, subject, topic, key, data, trace_context)
      select case when idea_created then 'facteur.idea.registered' else 'facteur.task.attached' end, '/facteur/intake',
             idea_id::text, events_topic, idea_id::text,
             jsonb_build_object('ideaId', idea_id, 'taskId', task_id, 'stage', stage, 'taskCreated', task_created,
                                'sourceType', source_type, 'sourceRef', source_ref, 'repository', repository, 'deliveryKey', delivery_key),
             trace_context
        from joined order by n
    )
    select n, idea_id, task_id, idea_created from joined
     where (select count(*) from ledger) = ${rows.length}`;
}
