// 0 ideas lost: every idea record the harness produced was consumed and accepted (2xx),
// and every accepted idea reached a terminal state: completed, or blocked/failed with a
// reason the harness caused (an idea made to fail; a task whose every failed attempt was
// a fault the harness injected, or a heartbeat timeout across a database outage).
import type { Sql } from '../../../shared/db/index.js';
import type { History } from '../history.js';
import { TOPICS } from '../ideas.js';
import { explainsFailure } from '../steps.js';
import { result, type Invariant } from './index.js';

const IDEA_TOPICS = new Set<string>([TOPICS.intent, TOPICS.codexTasks]);
const TERMINAL = new Set(['completed', 'blocked', 'failed', 'cancelled']);

/** The ideas the harness's idea records were accepted as: idea id → tag. */
export function acceptedIdeas(h: History): Map<string, string> {
  const out = new Map<string, string>();
  for (const rec of h.records.values()) {
    if (!IDEA_TOPICS.has(rec.topic) || !rec.tag) continue;
    for (const a of rec.answers) {
      const id = (a.body as { ideaId?: unknown } | null)?.ideaId;
      if (a.status >= 200 && a.status < 300 && typeof id === 'string') out.set(id, rec.tag);
    }
  }
  return out;
}

interface RunRow {
  id: string;
  attempt: number;
  status: string;
  error_code: string | null;
  error_message: string | null;
  silent_from: Date | null;
  completed_at: Date | null;
}

/** What the step double of a run did, with times relative to the run's last sign of life. */
function stepStory(h: History, runId: string, silentFrom: number, failedAt: number): string {
  const step = [...h.steps.values()].find((s) => s.runId === runId);
  if (!step) return 'no step double saw its Workflow';
  const t = (ms: number) => `${((ms - silentFrom) / 1000).toFixed(1)}s`;
  const calls = step.answers.map((a) => `${a.type}#${a.seq} sent ${t(a.sentAt)} → ${a.status} at ${t(a.at)} (${a.tries} tries${a.tries > 1 || a.at - a.sentAt > 2000 ? `: ${a.trace.join('; ')}` : ''})`).join(', ');
  const around = h.windows.filter((w) => w.start <= failedAt && (w.end ?? Infinity) >= silentFrom - 2000)
    .map((w) => `${w.kind} ${w.what} ${t(w.start)}..${w.end ? t(w.end) : 'open'}`).join(', ');
  return `silent from ${new Date(silentFrom).toISOString()}${around ? ` (around: ${around})` : ''}; step ${step.outcome}, pod started ${t(step.startedAt)}, failed at ${t(failedAt)}: ${calls || 'no answers'}`;
}

/** Whether the harness caused this idea to be blocked, and if not, what is unexplained. */
async function harnessCaused(h: History, db: Sql, ideaId: string, reason: string | null, tag: string): Promise<{ caused: boolean; detail: string }> {
  const intent = h.ideas.get(tag);
  if (intent?.doom?.kind === 'fail-task' && reason?.includes('chaos_doomed')) return { caused: true, detail: 'made to fail' };
  if (intent?.doom?.kind === 'bad-plan' && reason?.includes('plan was rejected')) return { caused: true, detail: 'invalid plan on purpose' };
  // the governed load: a budget its life cannot fit, a runaway spender, a rejected approval
  const gov = intent?.gov;
  if (gov && gov.kind !== 'risky' && /^budget (exhausted|exceeded)/.test(reason ?? '')) return { caused: true, detail: 'a binding budget' };
  if (gov?.kind === 'risky' && gov.reject && / rejected by /.test(reason ?? '')) return { caused: true, detail: 'an approval rejected on purpose' };
  const tasks = await db<{ id: string; key: string }[]>`select id, key from codex_kb.tasks where idea_id = ${ideaId} and state = 'blocked'`;
  if (tasks.length === 0) return { caused: false, detail: 'no blocked task' };
  const unexplained: string[] = [];
  for (const t of tasks) {
    const runs = await db<RunRow[]>`
      select id, attempt, status, error_code, error_message, completed_at,
             coalesce(last_heartbeat_at, started_at, submitted_at, queued_at) as silent_from
        from codex_kb.task_runs where task_id = ${t.id} order by attempt`;
    for (const r of runs.filter((x) => x.status === 'failed')) {
      const faults = h.runFaults.get(r.id) ?? [];
      if (faults.some(explainsFailure)) continue;
      const from = r.silent_from?.getTime() ?? 0;
      const to = r.completed_at?.getTime() ?? Date.now();
      if (r.error_code === 'heartbeat_timeout' && h.during('postgres', from - 1000, to)) continue;
      unexplained.push(`${t.key} attempt ${r.attempt}: ${r.error_code}: ${(r.error_message ?? '').slice(0, 160)} (faults: ${faults.join(',') || 'none'}; ${stepStory(h, r.id, from, to)})`);
    }
  }
  return unexplained.length === 0
    ? { caused: true, detail: 'every failed attempt was a fault the harness injected' }
    : { caused: false, detail: `unexplained: ${unexplained.join('; ')}` };
}

export const ideasLost: Invariant = {
  name: 'ideas_lost',
  description: 'every idea record accepted with a 2xx reached a terminal state the harness can account for',
  async check(h, db) {
    const problems: string[] = [];
    const consumed = new Set([...h.records.values()].map((r) => r.recordId));
    for (const [id, p] of h.produced) {
      if (p.tag && !consumed.has(id)) problems.push(`${p.tag}: record ${id} was produced but never consumed`);
    }
    for (const rec of h.records.values()) {
      if (!IDEA_TOPICS.has(rec.topic) || !rec.tag) continue;
      if (!rec.answers.some((a) => a.status >= 200 && a.status < 300)) {
        problems.push(`${rec.tag}: record ${rec.key} never accepted (answers ${rec.answers.map((a) => a.status).join(',') || 'none'}, ${rec.unresolved} still retrying)`);
      }
    }
    const accepted = acceptedIdeas(h);
    const rows = await db<{ id: string; status: string; status_reason: string | null }[]>`
      select id, status, status_reason from codex_kb.ideas where id = any(${[...accepted.keys()]}::uuid[])`;
    const found = new Set(rows.map((r) => r.id));
    for (const [id, tag] of accepted) if (!found.has(id)) problems.push(`${tag}: accepted as idea ${id}, which is not in the database`);
    let completed = 0;
    let blocked = 0;
    for (const row of rows) {
      const tag = accepted.get(row.id)!;
      if (row.status === 'completed') {
        completed++;
        continue;
      }
      if (!TERMINAL.has(row.status)) {
        const tasks = await db<{ key: string; state: string }[]>`select key, state from codex_kb.tasks where idea_id = ${row.id} order by created_at`;
        problems.push(`${tag} (idea ${row.id}): still ${row.status}${row.status_reason ? ` (${row.status_reason})` : ''}; tasks ${tasks.map((t) => `${t.key}:${t.state}`).join(' ')}`);
        continue;
      }
      const why = await harnessCaused(h, db, row.id, row.status_reason, tag);
      if (why.caused) blocked++;
      else problems.push(`${tag} (idea ${row.id}): ${row.status} for a reason the harness did not cause: ${row.status_reason} — ${why.detail}`);
    }
    return result('ideas_lost', problems, `${accepted.size} ideas accepted: ${completed} completed, ${blocked} blocked by the harness`);
  },
};
