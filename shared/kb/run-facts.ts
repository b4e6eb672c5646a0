// What a finished run left behind, read for its reflections: the run and its task, the
// review, the test report, the paths it touched (diff-stats), the failure signature, and
// its own `reflection` artifacts. Large artifacts are never loaded whole: the database cuts
// each text to what the cap can use and says how long the original was.
import type { Tx } from '../db/index.js';
import { splitSignature, type CheckFacts, type RunFacts } from './reflection-text.js';

export interface RunRow {
  readonly id: string;
  readonly ideaId: string;
  readonly taskId: string;
  readonly stage: string;
  readonly status: string;
  readonly repository: string;
}

export interface ArtifactLesson {
  readonly artifactId: string;
  readonly text: string;
  /** The original's size in bytes (the text may be a prefix of it). */
  readonly bytes: number;
  /** Paths the artifact names itself (`paths: [...]`), when it does. */
  readonly paths: readonly string[] | undefined;
}

/** Paths kept on a reflection (the GIN index's array): beyond this a change is about everything. */
const MAX_PATHS = 200;

export async function loadRun(tx: Tx, runId: string): Promise<(RunRow & { facts: RunFacts }) | undefined> {
  const [run] = await tx<{ id: string; idea_id: string; task_id: string; stage: string; status: string; repository: string; attempt: number; key: string; title: string; error_code: string | null; error_message: string | null }[]>`
    select r.id, r.idea_id, r.task_id, r.stage, r.status, coalesce(nullif(r.repository, ''), t.repository) as repository,
           r.attempt, t.key, t.title, r.error_code, left(r.error_message, 4000) as error_message
      from codex_kb.task_runs r join codex_kb.tasks t on t.id = r.task_id
     where r.id = ${runId}`;
  if (!run) return undefined;
  const [review] = await tx<{ verdict: string | null; summary: string | null }[]>`
    select left(data->>'verdict', 100) as verdict, left(coalesce(data->>'summary', data->>'body'), 2000) as summary
      from codex_kb.artifacts where run_id = ${runId} and artifact_type = 'review' and jsonb_typeof(data) = 'object'
     order by created_at desc, id desc limit 1`;
  const tests = await testReport(tx, runId);
  const paths = await touchedPaths(tx, runId, run.task_id);
  const { message, signature: fromMessage } = splitSignature(run.error_message);
  const signature = fromMessage ?? tests?.signature ?? (await signatureFromEvents(tx, runId));
  return {
    id: run.id,
    ideaId: run.idea_id,
    taskId: run.task_id,
    stage: run.stage,
    status: run.status,
    repository: run.repository,
    facts: {
      stage: run.stage,
      outcome: run.status,
      attempt: run.attempt,
      repository: run.repository,
      taskKey: run.key,
      taskTitle: run.title,
      errorCode: run.error_code,
      errorMessage: message,
      signature,
      review: review ? { verdict: review.verdict, summary: review.summary } : undefined,
      tests: tests ? { toolchain: tests.toolchain, passed: tests.passed, checks: tests.checks } : undefined,
      paths,
    },
  };
}

async function testReport(tx: Tx, runId: string): Promise<{ toolchain: string | null; passed: boolean | null; checks: CheckFacts[]; signature: string | null } | undefined> {
  const [report] = await tx<{ id: string; toolchain: string | null; passed: boolean | null }[]>`
    select id, left(data->>'toolchain', 200) as toolchain, case jsonb_typeof(data->'passed') when 'boolean' then (data->>'passed')::boolean end as passed
      from codex_kb.artifacts where run_id = ${runId} and artifact_type = 'test-report' and jsonb_typeof(data) = 'object'
     order by created_at desc, id desc limit 1`;
  if (!report) return undefined;
  // checks in reported order, without their output tails (up to 64 KiB each)
  const checks = await tx<{ name: string; exit_code: string | null; summary: string; signature: string | null }[]>`
    select left(coalesce(c->>'name', ''), 100) as name, c->>'exitCode' as exit_code, left(coalesce(c->>'summary', ''), 600) as summary,
           left(c->'failure'->>'signature', 1000) as signature
      from codex_kb.artifacts a,
           jsonb_array_elements(case when jsonb_typeof(a.data->'checks') = 'array' then a.data->'checks' else '[]'::jsonb end) with ordinality as x(c, n)
     where a.id = ${report.id} and jsonb_typeof(c) = 'object'
     order by n limit 50`;
  return {
    toolchain: report.toolchain,
    passed: report.passed,
    checks: checks.map((c) => ({ name: c.name, exitCode: c.exit_code !== null && /^-?\d+$/.test(c.exit_code) ? Number(c.exit_code) : null, summary: c.summary })),
    signature: checks.find((c) => c.signature)?.signature ?? null,
  };
}

/** The run's diff-stats paths, else its task's latest (a review or a failed attempt touches what the task's change touched). */
async function touchedPaths(tx: Tx, runId: string, taskId: string): Promise<string[]> {
  const rows = await tx<{ path: string }[]>`
    with stats as (
      select data from codex_kb.artifacts
       where artifact_type = 'diff-stats' and jsonb_typeof(data->'files') = 'array'
         and (run_id = ${runId} or task_id = ${taskId})
       order by (run_id = ${runId}) desc, created_at desc, id desc limit 1)
    select distinct left(f->>'path', 1000) as path
      from stats, jsonb_array_elements(stats.data->'files') f
     where jsonb_typeof(f) = 'object' and coalesce(f->>'path', '') <> ''
     order by 1 limit ${MAX_PATHS}`;
  return rows.map((r) => r.path);
}

/** A `[signature: …]` a step event carried, when the run's own error message has none. */
async function signatureFromEvents(tx: Tx, runId: string): Promise<string | null> {
  const [row] = await tx<{ message: string }[]>`
    select left(payload->>'message', 4000) as message from codex_kb.run_events
     where run_id = ${runId} and payload->>'message' like '%[signature: %]%'
     order by id desc limit 1`;
  return row ? splitSignature(row.message).signature : null;
}

/** The run's `reflection` artifacts, each read up to `maxBytes` characters (enough for the cap in any encoding). */
export async function artifactLessons(tx: Tx, runId: string, maxBytes: number): Promise<ArtifactLesson[]> {
  const rows = await tx<{ id: string; text: string; bytes: number; paths: unknown }[]>`
    select a.id, left(b.body, ${maxBytes}) as text, octet_length(b.body) as bytes,
           case when jsonb_typeof(a.data->'paths') = 'array' then a.data->'paths' end as paths
      from codex_kb.artifacts a,
           lateral (select coalesce(
             case when jsonb_typeof(a.data) = 'string' then a.data #>> '{}' end,
             a.data->>'lesson', a.data->>'content', a.data->>'text', a.data->>'reflection', a.data->>'summary',
             case when a.data is not null and jsonb_typeof(a.data) <> 'null' then a.data::text end,
             a.uri, '') as body) b
     where a.run_id = ${runId} and a.artifact_type = 'reflection'
     order by a.created_at, a.id`;
  return rows.map((r) => ({
    artifactId: r.id,
    text: r.text,
    bytes: Number(r.bytes),
    paths: Array.isArray(r.paths) ? [...new Set(r.paths.filter((p): p is string => typeof p === 'string' && p !== '').map((p) => p.slice(0, 1000)))].sort().slice(0, MAX_PATHS) : undefined,
  }));
}
