// Failure clustering: failed runs grouped by what failed — repository, error code and
// facteur-agent's normalized failure signature (`<message> [signature: <line>]`, read by
// codex_kb.failure_signature; a failure without one is grouped by its message's first 500
// characters). One module for the three readers: `GET /v1/failures`, the dashboard's failures
// page (shared/dashboard/failures.ts) and the repeated-failure alert (shared/metrics/alerts.ts,
// which raises `facteur.alert.repeated_failure` when a group reaches its count in its window).
//
// Flat in history size: every reader looks at a bounded window of recent failures through the
// partial index on failed runs' completion time (task_runs_failed_idx), and at most `limit`
// groups with `examples` runs each.
import { ValidationError, type Issue } from '../errors/index.js';
import type { Queryable } from '../db/index.js';
import { repositoryProblem } from '../validation/index.js';

/**
 * The failed runs of the last `minutes` (optionally of one repository), with their group key:
 * a fragment for the caller's `with f as (…)`, built on the caller's connection.
 */
export function failedRuns(sql: Queryable, minutes: number, repository?: string) {
  return sql`
    select r.id, r.idea_id, r.repository, r.stage, coalesce(r.error_code, 'failed') as code, r.error_message,
           codex_kb.failure_signature(r.error_message) as normalized,
           coalesce(codex_kb.failure_signature(r.error_message), left(coalesce(r.error_message, ''), 500)) as signature, r.completed_at
      from codex_kb.task_runs r
     where r.status = 'failed' and r.completed_at >= now() - make_interval(mins => ${minutes}::int)
       ${repository !== undefined ? sql`and lower(r.repository) = ${repository}` : sql``}`;
}

export interface FailureCluster {
  readonly repository: string;
  readonly code: string;
  /** facteur-agent's normalized signature; null when the failure had none (grouped by message). */
  readonly signature: string | null;
  readonly message: string;
  readonly stages: readonly string[];
  readonly count: number;
  readonly ideas: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
  /** The latest runs of the group, newest first. */
  readonly examples: readonly { readonly runId: string; readonly ideaId: string; readonly at: string }[];
}

export interface FailureQuery {
  readonly repository?: string;
  readonly days: number;
  readonly limit: number;
}

export const FAILURE_EXAMPLES = 5;

export async function failureClusters(sql: Queryable, q: FailureQuery): Promise<FailureCluster[]> {
  const rows = await sql<{ repository: string; code: string; normalized: string | null; signature: string; stages: string[]; n: number; ideas: number; first_at: Date; last_at: Date; run_ids: string[]; idea_ids: string[]; ats: Date[] }[]>`
    with f as (${failedRuns(sql, q.days * 24 * 60, q.repository)})
    select repository, code, signature, (array_agg(normalized))[1] as normalized, array_agg(distinct stage order by stage) as stages,
           count(*)::int as n, count(distinct idea_id)::int as ideas, min(completed_at) as first_at, max(completed_at) as last_at,
           (array_agg(id order by completed_at desc, id desc))[1:${FAILURE_EXAMPLES}] as run_ids,
           (array_agg(idea_id order by completed_at desc, id desc))[1:${FAILURE_EXAMPLES}] as idea_ids,
           (array_agg(completed_at order by completed_at desc, id desc))[1:${FAILURE_EXAMPLES}] as ats
      from f group by repository, code, signature
     order by n desc, last_at desc, repository, signature limit ${q.limit}`;
  return rows.map((r) => ({
    repository: r.repository, code: r.code, signature: r.normalized, message: r.signature, stages: r.stages,
    count: r.n, ideas: r.ideas, firstSeen: r.first_at.toISOString(), lastSeen: r.last_at.toISOString(),
    examples: r.run_ids.map((runId, i) => ({ runId, ideaId: r.idea_ids[i]!, at: new Date(r.ats[i]!).toISOString() })),
  }));
}

/** `?repository=owner/name&days=1..90&limit=1..200`; anything else listed as a problem. */
export function parseFailureQuery(q: URLSearchParams): FailureQuery {
  const issues: Issue[] = [];
  const allowed = ['repository', 'days', 'limit'];
  for (const key of new Set(q.keys())) {
    if (!allowed.includes(key)) issues.push({ path: key.replace(/[^\x20-\x7e]/g, '?').slice(0, 60), message: 'is not a parameter of the failures (repository, days, limit)' });
    else if (q.getAll(key).length > 1) issues.push({ path: key, message: 'must be given once' });
  }
  const repo = q.get('repository');
  let repository: string | undefined;
  if (repo !== null) {
    const problem = repositoryProblem(repo);
    if (problem) issues.push({ path: 'repository', message: problem });
    else repository = repo.toLowerCase();
  }
  const whole = (key: string, min: number, max: number, fallback: number) => {
    const v = q.get(key);
    if (v === null) return fallback;
    if (!/^[0-9]{1,6}$/.test(v) || Number(v) < min || Number(v) > max) {
      issues.push({ path: key, message: `must be a whole number from ${min} to ${max}` });
      return fallback;
    }
    return Number(v);
  };
  const days = whole('days', 1, 90, 14);
  const limit = whole('limit', 1, 200, 50);
  if (issues.length) throw new ValidationError('invalid query', issues);
  return { ...(repository !== undefined ? { repository } : {}), days, limit };
}
