// The knowledge base under fire, on what the FAKE Kubernetes API received and what the
// database holds once the load drained:
// - kb_context: no Workflow ever carried a retrievedContext over 4096 UTF-8 bytes, and every
//   Workflow of a run with a retrieval decision carried exactly that decision's bytes (a
//   resubmission after a crash, a retried create, a second dispatch instance: the same
//   context); each decision's recorded size is its context's size;
// - kb_reflections: every run that ended has exactly one reflection of Facteur's own, and the
//   backlog of ended runs is empty — kills, restarts and PostgreSQL restarts lost none and
//   doubled none.
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
