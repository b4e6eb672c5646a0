// Facts for policy tests, written as the system writes them: ideas with an intent, plans'
// implementation tasks, runs that succeeded with `diff-stats` and `test-report` artifacts
// in facteur-agent's shape (test/helpers/stage-results.ts), deploys, and a pack selected
// for a repository through the store.
import type { Sql } from '../../shared/db/index.js';
import { activatePack, putPack, putRepositoryPolicy } from '../../shared/policy/store.js';
import { STAGE_RESULT } from '../helpers/stage-results.js';

let n = 0;
export const unique = (prefix: string) => `${prefix}${++n}${Math.random().toString(36).slice(2, 6)}`;

export const DIFF = STAGE_RESULT.implementation!.find((a) => a.kind === 'diff-stats')!.data as {
  base: string; head: string; files: { path: string; added: number; removed: number; status: string }[]; added: number; removed: number;
};
export const REPORT = STAGE_RESULT.implementation!.find((a) => a.kind === 'test-report')!.data as { toolchain: string; passed: boolean; checks: Record<string, unknown>[] };

/** A diff-stats artifact touching `paths`, each with `lines` added. */
export function diffOf(paths: string[], lines = 10) {
  const files = paths.map((path) => ({ path, added: lines, removed: 0, status: 'modified' }));
  return { ...DIFF, files, added: lines * paths.length, removed: 0 };
}

/** A test-report artifact whose checks are `name: passed?`. */
export function reportOf(checks: Record<string, boolean>) {
  const base = REPORT.checks[0]!;
  return {
    ...REPORT, passed: Object.values(checks).every(Boolean),
    checks: Object.entries(checks).map(([name, ok]) => ({ ...base, name, command: `npm run ${name}`, exitCode: ok ? 0 : 1, failed: ok ? 0 : 2, summary: ok ? 'ok' : '2 failed' })),
  };
}

/** A pack stored, activated and selected for `repository` (repo-local files honoured). */
export async function usePack(sql: Sql, repository: string, rules: string, extra = ''): Promise<string> {
  const key = unique('t');
  await putPack(sql, `schemaVersion: 1\nkey: ${key}\nversion: 1\n${extra}rules:\n${rules}`, 'api', 'test');
  await activatePack(sql, key, 1, 'test');
  await putRepositoryPolicy(sql, repository, { pack: { key, version: null }, overrides: {}, repoLocal: true }, 'test');
  return key;
}

export interface IdeaFacts {
  repository?: string;
  level?: 'L0' | 'L1' | 'L2' | 'L3';
  labels?: string[];
  acceptanceCriteria?: string[];
  successMetrics?: string[];
  planTasks?: { key: string; risk?: string; paths?: string[] }[];
}

export async function insertIdea(sql: Sql, o: IdeaFacts = {}): Promise<string> {
  const intent = { version: 'intent_v1', acceptanceCriteria: o.acceptanceCriteria ?? ['it works'], successMetrics: o.successMetrics ?? ['users use it'] };
  const plan = { tasks: (o.planTasks ?? []).map((t) => ({ key: t.key, risk: t.risk ?? 'low', paths: t.paths ?? [] })) };
  const [i] = await sql`
    insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, autonomy_level, labels, intent, metadata)
    values ('api', ${unique('ref-')}, 't', ${o.repository ?? 'acme/p'}, '{}', ${o.level ?? 'L1'}, ${o.labels ?? []}::text[],
            ${sql.json(intent)}, ${sql.json({ plan })}) returning id`;
  return i!.id as string;
}

/** An implementation task with a run that succeeded and reported these artifacts (undefined: not reported). */
export async function implementationRun(sql: Sql, ideaId: string, o: { key?: string; paths?: string[]; diff?: unknown; report?: unknown } = {}): Promise<{ taskId: string; runId: string }> {
  const [idea] = await sql`select repository from codex_kb.ideas where id = ${ideaId}`;
  const [t] = await sql`
    insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, paths)
    values (${ideaId}, ${o.key ?? unique('task-')}, 'implementation', 'succeeded', 'x', ${idea!.repository}, ${sql.json(o.paths ?? ['src'])}) returning id`;
  const [r] = await sql`
    insert into codex_kb.task_runs (task_id, idea_id, attempt, status, completed_at) values (${t!.id}, ${ideaId}, 1, 'succeeded', now()) returning id`;
  for (const [kind, data] of [['diff-stats', o.diff], ['test-report', o.report]] as const) {
    if (data === undefined) continue;
    await sql`insert into codex_kb.artifacts (idea_id, task_id, run_id, artifact_type, data) values (${ideaId}, ${t!.id}, ${r!.id}, ${kind}, ${sql.json(data as never)})`;
  }
  return { taskId: t!.id as string, runId: r!.id as string };
}

/** A deploy of another idea of `repository` that succeeded `hoursAgo`; `regressed`: followed by a remediation task. */
export async function pastDeploy(sql: Sql, repository: string, o: { hoursAgo?: number; regressed?: boolean } = {}): Promise<string> {
  const ideaId = await insertIdea(sql, { repository });
  const at = new Date(Date.now() - (o.hoursAgo ?? 1) * 3_600_000);
  const [t] = await sql`
    insert into codex_kb.tasks (idea_id, key, stage, state, title, repository) values (${ideaId}, 'deploy-1', 'deploy', 'succeeded', 'd', ${repository}) returning id`;
  await sql`insert into codex_kb.task_runs (task_id, idea_id, attempt, status, completed_at) values (${t!.id}, ${ideaId}, 1, 'succeeded', ${at})`;
  if (o.regressed) {
    await sql`
      insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, created_at)
      values (${ideaId}, 'remediation-1', 'implementation', 'pending', 'fix', ${repository}, ${new Date(at.getTime() + 60_000)})`;
  }
  return ideaId;
}
