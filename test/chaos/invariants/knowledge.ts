// The knowledge base under fire, on what the FAKE Kubernetes API received and what the
// database holds once the load drained:
// - kb_context: no Workflow ever carried a retrievedContext over 4096 UTF-8 bytes, and every
//   Workflow of a run with a retrieval decision carried exactly that decision's bytes (a
//   resubmission after a crash, a retried create, a second dispatch instance: the same
//   context); each decision's recorded size is its context's size;
// - kb_reflections: every run that ended has exactly one reflection of Facteur's own, and the
//   backlog of ended runs is empty — kills, restarts and PostgreSQL restarts lost none and
//   doubled none (kb_finetune_once: below).
import { result, type Invariant } from './index.js';

const MAX_CONTEXT_BYTES = 4096;

export const kbContext: Invariant = {
  name: 'kb_context',
  description: 'every retrievedContext within 4096 bytes, and the same bytes for every Workflow of one run',
  async check(h, db) {
    const problems: string[] = [];
    const decisions = new Map((await db<{ run_id: string; context: string; context_bytes: number }[]>`
      select run_id::text, context, context_bytes from codex_kb.kb_retrievals`).map((r) => [r.run_id, r]));
    let workflows = 0;
    let withLessons = 0;
    for (const [name, seen] of h.contexts) {
      for (const { runId, context } of seen) {
        workflows++;
        const bytes = Buffer.byteLength(context, 'utf8');
        if (bytes > MAX_CONTEXT_BYTES) problems.push(`workflow ${name}: retrievedContext of ${bytes} bytes`);
        if (bytes > 0) withLessons++;
        const d = decisions.get(runId);
        if (d && d.context !== context) problems.push(`workflow ${name} (run ${runId}): its retrievedContext (${bytes} bytes) is not its run's decision (${d.context_bytes} bytes)`);
        if (!d && bytes > 0) problems.push(`workflow ${name} (run ${runId}): a retrievedContext without a recorded decision`);
      }
    }
    for (const d of decisions.values()) {
      if (Buffer.byteLength(d.context, 'utf8') !== d.context_bytes) problems.push(`run ${d.run_id}: decision says ${d.context_bytes} bytes, its context has ${Buffer.byteLength(d.context, 'utf8')}`);
    }
    return result('kb_context', problems, `${workflows} Workflows checked, ${withLessons} with lessons; ${decisions.size} retrieval decisions`);
  },
};

export const kbReflections: Invariant = {
  name: 'kb_reflections',
  description: 'one reflection of Facteur\'s own per ended run, none left in the backlog',
  async check(_h, db) {
    const problems: string[] = [];
    const [row] = await db<{ ended: number; reflected: number; doubled: number; missing: string[]; backlog: number; errors: string | null }[]>`
      with ended as (select id from codex_kb.task_runs where status in ('succeeded', 'failed', 'cancelled')),
           mine as (select run_id, count(*) as n from codex_kb.reflections where source = 'facteur' group by run_id)
      select (select count(*) from ended)::int as ended,
             (select count(*) from mine join ended on ended.id = mine.run_id)::int as reflected,
             (select count(*) from mine where n > 1)::int as doubled,
             coalesce((select array_agg(e.id::text) from (select id from ended where not exists (select 1 from mine where mine.run_id = ended.id) limit 5) e), '{}') as missing,
             (select count(*) from codex_kb.kb_backlog)::int as backlog,
             (select max(last_error) from codex_kb.kb_backlog) as errors`;
    const r = row!;
    if (r.doubled > 0) problems.push(`${r.doubled} runs have more than one reflection of Facteur's own`);
    if (r.reflected < r.ended) problems.push(`${r.ended - r.reflected} ended runs have no reflection (e.g. ${r.missing.join(', ')})`);
    if (r.backlog > 0) problems.push(`${r.backlog} ended runs left in the KB backlog${r.errors ? ` (last error: ${r.errors.slice(0, 160)})` : ''}`);
    return result('kb_reflections', problems, `${r.ended} ended runs, ${r.reflected} reflected`);
  },
};

// - kb_finetune_once: the daily fine-tune trigger fired at most once a UTC day — one trigger
//   row and exactly one outbox event (its own id) per day, and no two answers claiming to have
//   fired the same day — and at least once when due: after the last volley (every pair made,
//   FACTEUR_KB_FINETUNE_MIN_PAIRS=1), that day has its trigger unless no pair is newer than the
//   last one.
export const kbFinetuneOnce: Invariant = {
  name: 'kb_finetune_once',
  description: 'the daily fine-tune trigger once a day under concurrent pings, and not missed when due',
  async check(h, db) {
    const problems: string[] = [];
    const triggers = await db<{ day: string; event_id: string; pairs: number; created_at: Date }[]>`
      select to_char(day, 'YYYY-MM-DD') as day, event_id::text, pairs, created_at from codex_kb.kb_finetune_triggers order by day`;
    const events = await db<{ event_id: string; subject: string }[]>`
      select event_id::text, subject from codex_kb.outbox where type = 'facteur.kb.finetune.requested'`;
    const byDay = new Map(triggers.map((t) => [t.day, t]));
    const eventsByDay = new Map<string, string[]>();
    for (const e of events) eventsByDay.set(e.subject, [...(eventsByDay.get(e.subject) ?? []), e.event_id]);
    for (const [day, ids] of eventsByDay) {
      const t = byDay.get(day);
      if (ids.length > 1) problems.push(`${day}: ${ids.length} fine-tune events in the outbox (${ids.join(', ')})`);
      if (!t) problems.push(`${day}: a fine-tune event without a trigger row (${ids.join(', ')})`);
      else if (!ids.includes(t.event_id)) problems.push(`${day}: the outbox event is not the trigger's (${t.event_id})`);
    }
    for (const t of triggers) if (!eventsByDay.has(t.day)) problems.push(`${t.day}: a trigger row without its outbox event ${t.event_id}`);
    const answered = new Map<string, Set<string>>();
    for (const f of h.finetune.fired) {
      answered.set(f.day, (answered.get(f.day) ?? new Set()).add(f.eventId));
      if (byDay.get(f.day)?.event_id !== f.eventId) problems.push(`${f.instance} answered that it fired ${f.day} as ${f.eventId}, which is not the day's trigger`);
    }
    const doubleClaims = h.finetune.fired.length - [...answered.values()].reduce((s, ids) => s + ids.size, 0);
    if (doubleClaims > 0) problems.push(`${doubleClaims} answers claimed a firing another answer had already claimed`);
    const end = h.finetune.finalVolleyAt;
    let due = 'no final volley';
    if (end) {
      const day = end.toISOString().slice(0, 10);
      const last = triggers.at(-1);
      const [row] = await db<{ newer: number; total: number }[]>`
        select count(*) filter (where ${last?.created_at ?? null}::timestamptz is null or created_at > ${last?.created_at ?? null}::timestamptz)::int as newer,
               count(*)::int as total
          from codex_kb.preference_pairs where created_at <= ${end}`;
      due = `${row!.total} pairs`;
      if (!byDay.has(day) && row!.newer > 0) problems.push(`${day}: ${row!.newer} pairs newer than the last trigger, yet the last volley fired nothing`);
    }
    return result('kb_finetune_once', problems, `${triggers.length} triggers (${triggers.map((t) => `${t.day}: ${t.pairs} pairs`).join(', ') || 'none'}), ${h.finetune.volleys} volleys, ${h.finetune.fired.length} answers fired; ${due}`);
  },
};
