// Findings as the policy API lists them: one idea's, task's or run's, in the PolicyReport
// result shape, newest evaluation first (an evaluation's findings in the order it made them),
// with a summary over the whole history. Findings of rules in `evaluate` mode are record-only:
// listed with `?all=true`, but always counted in the summary's `wouldHaveBlocked`, which is
// what a team reads before moving a rule to enforce.
import type { Queryable } from '../db/index.js';
import { NotFoundError, ValidationError, type Issue } from '../errors/index.js';
import { isUuid } from '../validation/index.js';
import { summarize, type Summary } from './findings.js';

export type FindingScope = 'idea' | 'task' | 'run';

export interface FindingsQuery {
  readonly all: boolean;
  readonly limit: number;
}

export function parseFindingsQuery(q: URLSearchParams): FindingsQuery {
  const issues: Issue[] = [];
  let all = false;
  let limit = 200;
  const a = q.get('all');
  if (a !== null) {
    if (a === 'true' || a === 'false') all = a === 'true';
    else issues.push({ path: 'all', message: 'must be true or false' });
  }
  const l = q.get('limit');
  if (l !== null) {
    const n = Number(l);
    if (/^\d+$/.test(l) && n >= 1 && n <= 1000) limit = n;
    else issues.push({ path: 'limit', message: 'must be an integer from 1 to 1000' });
  }
  for (const key of new Set(q.keys())) if (key !== 'all' && key !== 'limit') issues.push({ path: key.slice(0, 100), message: 'unknown query parameter' });
  if (issues.length) throw new ValidationError('invalid query', issues);
  return { all, limit };
}

interface Row {
  id: string; evaluation_id: string; idea_id: string; task_id: string | null; run_id: string | null; checkpoint: string;
  policy: string; rule: string; result: 'pass' | 'fail' | 'warn' | 'error' | 'skip'; severity: string; mode: string;
  enforced: boolean; would_block: boolean; message: string; suggested_fix: string | null; properties: Record<string, unknown>;
  effective_policy_hash: string; created_at: Date;
}

export interface FindingsPage {
  readonly items: Record<string, unknown>[];
  readonly summary: Summary;
  /** How many findings the scope has in all (`items` may hold fewer: the limit, record-only ones). */
  readonly total: number;
  readonly truncated: boolean;
}

async function exists(sql: Queryable, scope: FindingScope, id: string): Promise<boolean> {
  const rows =
    scope === 'idea' ? await sql`select 1 from codex_kb.ideas where id = ${id}`
    : scope === 'task' ? await sql`select 1 from codex_kb.tasks where id = ${id}`
    : await sql`select 1 from codex_kb.task_runs where id = ${id}`;
  return rows.length > 0;
}

const COLUMNS = `id::text, evaluation_id, idea_id, task_id, run_id, checkpoint, policy, rule, result, severity, mode, enforced,
  would_block, message, suggested_fix, properties, effective_policy_hash, created_at`;

/** Every finding of the scope, newest evaluation first: ranked by the evaluation's last row. */
async function rowsOf(sql: Queryable, scope: FindingScope, id: string): Promise<Row[]> {
  // one statement per scope, each on its own index; the column list is a constant, never a value
  const order = 'order by max(id) over (partition by evaluation_id) desc, id';
  if (scope === 'idea') return sql.unsafe<Row[]>(`select ${COLUMNS} from codex_kb.policy_findings where idea_id = $1 ${order}`, [id]);
  if (scope === 'task') return sql.unsafe<Row[]>(`select ${COLUMNS} from codex_kb.policy_findings where task_id = $1 ${order}`, [id]);
  return sql.unsafe<Row[]>(`select ${COLUMNS} from codex_kb.policy_findings where run_id = $1 ${order}`, [id]);
}

export async function listFindings(sql: Queryable, scope: FindingScope, id: string, q: FindingsQuery): Promise<FindingsPage> {
  if (!isUuid(id) || !(await exists(sql, scope, id))) throw new NotFoundError(`no ${scope} ${id.slice(0, 40)}`);
  const rows = await rowsOf(sql, scope, id);
  const shown = rows.filter((r) => q.all || r.mode !== 'evaluate');
  return {
    items: shown.slice(0, q.limit).map((r) => ({
      evaluationId: r.evaluation_id, policy: r.policy, rule: r.rule, result: r.result, severity: r.severity, mode: r.mode,
      enforced: r.enforced, wouldBlock: r.would_block, message: r.message, ...(r.suggested_fix ? { suggestedFix: r.suggested_fix } : {}),
      scope: { ideaId: r.idea_id, taskId: r.task_id, runId: r.run_id, checkpoint: r.checkpoint },
      properties: r.properties, effectivePolicyHash: r.effective_policy_hash, createdAt: r.created_at.toISOString(),
    })),
    summary: summarize(rows.map((r) => ({ result: r.result, wouldBlock: r.would_block, enforced: r.enforced }))),
    total: rows.length,
    truncated: shown.length > q.limit,
  };
}
