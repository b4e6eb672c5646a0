// Retry backoff, to the millisecond, with an injected clock: a failed attempt puts its task
// back `queued` with `not_before = now + base × 2^(attempt−1)` (capped), the scheduler
// claims nothing a moment before that and claims it at that moment, and after max attempts
// the task and the idea are blocked with the reason. A heartbeat timeout found by the tick
// follows the same backoff. Real PostgreSQL throughout; the clock is deliberately years
// away from the database's, so a statement that still read the database's now() would show.
// And the decision before any of that: which failures are retried at all (isTerminal).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createArgoClient } from '../../shared/argo/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { transaction, type Sql } from '../../shared/db/index.js';
import { tick } from '../../shared/dispatch/engine.js';
import { isTerminal, NonRetriableError, StageResultError, TERMINAL_RUN_FAILURES } from '../../shared/errors/index.js';
import { backoffMs, settleRun, type RunOutcome } from '../../shared/lifecycle/advance.js';
import { silentLogger } from '../../shared/log/index.js';
import { schedule, type Clock } from '../../shared/scheduler/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { startFakeKube, type FakeKube } from '../helpers/fake-kube.js';

const S = 1000;
const BASE = 30 * S;
const MAX = 15 * 60 * S;
const ATTEMPTS = 7;
const config = loadConfig({
  FACTEUR_CALLBACK_SECRET: 'test-callback-secret',
  FACTEUR_RETRY_BASE_MS: String(BASE),
  FACTEUR_RETRY_MAX_MS: String(MAX),
  FACTEUR_MAX_ATTEMPTS: String(ATTEMPTS),
  FACTEUR_HEARTBEAT_TIMEOUT_S: '60',
});

/** A clock that stands still until the test moves it. */
class TestClock implements Clock {
  private t: number;
  constructor(start: string) {
    this.t = Date.parse(start);
  }
  now(): Date {
    return new Date(this.t);
  }
  at(ms: number): this {
    this.t = ms;
    return this;
  }
  get ms(): number {
    return this.t;
  }
}

let db: TestDb;
let sql: Sql;
/** A database of its own for each test that needs one (the tick sees every task in it). */
async function freshDb(): Promise<void> {
  db = await createTestDb({ max: 4 });
  sql = db.sql;
}

let n = 0;
async function readyTask(key = 'impl'): Promise<{ ideaId: string; taskId: string }> {
  n++;
  const [idea] = await sql<{ id: string }[]>`
    insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status)
    values ('api', ${'retry-' + n}, 'Retry me', 'acme/retry', '{}', 'running_tasks') returning id`;
  const [task] = await sql<{ id: string }[]>`
    insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, branch, max_attempts)
    values (${idea!.id}, ${key}, 'implementation', 'ready', 'Implement', 'acme/retry', ${'facteur/' + key}, ${ATTEMPTS})
    returning id`;
  return { ideaId: idea!.id, taskId: task!.id };
}

const taskRow = async (id: string) =>
  (await sql<{ state: string; attempts: number; not_before: Date | null; state_reason: string | null }[]>`
    select state, attempts, not_before, state_reason from codex_kb.tasks where id = ${id}`)[0]!;

const ideaRow = async (id: string) =>
  (await sql<{ status: string; status_reason: string | null }[]>`select status, status_reason from codex_kb.ideas where id = ${id}`)[0]!;

const CRASH: RunOutcome = { succeeded: false, errorCode: 'agent_crashed', errorMessage: 'the agent exited 1' };

async function fail(runId: string, ideaId: string, clock: Clock | undefined, outcome = CRASH): Promise<boolean> {
  return transaction(sql, [`idea:${ideaId}`], async (tx) => (await settleRun(tx, config, runId, outcome, clock ? { clock } : {})) !== false);
}

describe('backoffMs', () => {
  it.each([
    [1, 30 * S],
    [2, 60 * S],
    [3, 120 * S],
    [4, 240 * S],
    [5, 480 * S],
    [6, 900 * S], // 960 s, capped at the max
    [7, 900 * S],
    [40, 900 * S],
  ])('after attempt %i: %i ms', (attempt, ms) => {
    expect(backoffMs(config, attempt)).toBe(ms);
  });
});

describe('retry backoff with an injected clock', () => {
  beforeEach(freshDb);

  it('each failed attempt waits base × 2^(attempt−1), capped; the scheduler claims at not_before and not a moment before; then blocked', async () => {
    const { ideaId, taskId } = await readyTask();
    const clock = new TestClock('2031-05-04T10:00:00.000Z');
    const deps = { sql, config, clock };

    let [claim] = await schedule(deps);
    expect(claim).toMatchObject({ taskId, attempt: 1 });
    const waits: number[] = [];
    for (let attempt = 1; attempt < ATTEMPTS; attempt++) {
      // the attempt fails some odd milliseconds into it
      const failedAt = clock.at(clock.ms + 1234 + attempt).ms;
      expect(await fail(claim!.runId, ideaId, clock)).toBe(true);
      const task = await taskRow(taskId);
      expect(task).toMatchObject({ state: 'queued', attempts: attempt, state_reason: 'retrying after: agent_crashed: the agent exited 1' });
      const wait = task.not_before!.getTime() - failedAt;
      expect(wait).toBe(Math.min(MAX, BASE * 2 ** (attempt - 1)));
      waits.push(wait / S);
      const [retry] = await sql`select payload from codex_kb.run_events where run_id = ${claim!.runId} and event_type = 'task.retry_scheduled'`;
      expect(retry!.payload).toEqual({ attempt: attempt + 1, inMs: wait, reason: 'agent_crashed: the agent exited 1' });

      clock.at(task.not_before!.getTime() - 100);
      expect(await schedule(deps)).toEqual([]);
      expect((await taskRow(taskId)).state).toBe('queued');
      clock.at(task.not_before!.getTime());
      [claim] = await schedule(deps);
      expect(claim).toMatchObject({ taskId, attempt: attempt + 1 });
      expect(await taskRow(taskId)).toMatchObject({ state: 'submitting', attempts: attempt + 1, not_before: null });
    }
    expect(waits).toEqual([30, 60, 120, 240, 480, 900]);

    // the last attempt fails: no more retries
    expect(await fail(claim!.runId, ideaId, clock)).toBe(true);
    const why = `task impl failed ${ATTEMPTS} time(s); last: agent_crashed: the agent exited 1`;
    expect(await taskRow(taskId)).toMatchObject({ state: 'blocked', attempts: ATTEMPTS, state_reason: why });
    expect(await ideaRow(ideaId)).toEqual({ status: 'blocked', status_reason: why });
    clock.at(clock.ms + 24 * 3600 * S);
    expect(await schedule(deps)).toEqual([]);
    const runs = await sql`select attempt, status, error_code from codex_kb.task_runs where task_id = ${taskId} order by attempt`;
    expect(runs).toEqual(Array.from({ length: ATTEMPTS }, (_, i) => ({ attempt: i + 1, status: 'failed', error_code: 'agent_crashed' })));
  });

  it('settling a run that was already settled changes nothing: not_before keeps its first value', async () => {
    const { ideaId, taskId } = await readyTask();
    const clock = new TestClock('2031-05-04T10:00:00.000Z');
    const [claim] = await schedule({ sql, config, clock });
    expect(await fail(claim!.runId, ideaId, clock)).toBe(true);
    const first = (await taskRow(taskId)).not_before!.getTime();
    clock.at(clock.ms + 10 * S);
    expect(await fail(claim!.runId, ideaId, clock)).toBe(false);
    expect((await taskRow(taskId)).not_before!.getTime()).toBe(first);
  });

  it('without a clock, the database\'s own now() is used for both: not_before is the settling transaction\'s time + the backoff', async () => {
    const { ideaId, taskId } = await readyTask();
    const [claim] = await schedule({ sql, config });
    expect(await fail(claim!.runId, ideaId, undefined)).toBe(true);
    // run_events.emitted_at defaults to now(): the settling transaction's time
    const [row] = await sql<{ wait_ms: number }[]>`
      select (extract(epoch from (t.not_before - e.emitted_at)) * 1000)::int as wait_ms
        from codex_kb.tasks t join codex_kb.run_events e on e.task_id = t.id and e.event_type = 'task.retry_scheduled'
       where t.id = ${taskId}`;
    expect(row!.wait_ms).toBe(BASE);
    expect(await schedule({ sql, config })).toEqual([]); // 30 s from now, by the database's clock
    await sql`update codex_kb.tasks set not_before = now() - interval '1 millisecond' where id = ${taskId}`;
    expect(await schedule({ sql, config })).toMatchObject([{ taskId, attempt: 2 }]);
  });
});

describe('heartbeat timeout (the tick)', () => {
  let kube: FakeKube;
  beforeEach(async () => {
    await freshDb();
    kube = await startFakeKube(); // the FAKE Kubernetes API, through the real Argo client
  });
  afterEach(() => kube.close());

  it('a silent run is failed and its task retried after the same backoff, by the same clock', async () => {
    const { ideaId, taskId } = await readyTask();
    const clock = new TestClock('2029-11-20T08:30:00.000Z');
    const workflows = createArgoClient({ kubeConfig: kube.kubeConfig(), namespace: 'argo-workflows', retry: { attempts: 1 }, timeoutMs: 2000 });
    const deps = { sql, config, log: silentLogger, workflows, callbackBaseUrl: 'http://callbacks.test', clock };
    const names = () => kube.workflows().map((w: any) => w.metadata.name as string);

    const first = await tick(deps);
    expect(first).toMatchObject({ timedOut: 0, dispatched: 1 });
    const [run] = await sql<{ id: string; external_run_id: string; status: string }[]>`
      select id, external_run_id, status from codex_kb.task_runs where task_id = ${taskId}`;
    expect(run!.status).toBe('running');
    expect(names()).toEqual([run!.external_run_id]);

    // the step stops reporting (by the database's clock, which the heartbeat is stamped with)
    await sql`update codex_kb.task_runs set last_heartbeat_at = now() - interval '1 hour' where id = ${run!.id}`;
    const silentAt = clock.at(clock.ms + 5 * 60 * S + 7).ms;
    const timedOut = await tick(deps);
    expect(timedOut).toMatchObject({ timedOut: 1, dispatched: 0 }); // not yet: the backoff runs
    expect(names()).toEqual([]); // the silent run's Workflow was deleted
    const task = await taskRow(taskId);
    expect(task).toMatchObject({ state: 'queued', attempts: 1, state_reason: 'retrying after: heartbeat_timeout: no heartbeat for 60s' });
    expect(task.not_before!.getTime()).toBe(silentAt + BASE);
    const [failed] = await sql`select status, error_code from codex_kb.task_runs where id = ${run!.id}`;
    expect(failed).toEqual({ status: 'failed', error_code: 'heartbeat_timeout' });

    clock.at(silentAt + BASE - 100);
    expect(await tick(deps)).toMatchObject({ dispatched: 0 });
    clock.at(silentAt + BASE);
    expect(await tick(deps)).toMatchObject({ dispatched: 1 });
    expect(names()).toHaveLength(1);
    expect(names()[0]).toMatch(/-a2$/);
    expect(await taskRow(taskId)).toMatchObject({ state: 'running', attempts: 2 });
    expect((await ideaRow(ideaId)).status).toBe('running_tasks');
  });
});

describe('which failures are retried, and which stop the task at once', () => {
  // The one decision, table-tested: which run-failure codes stop a task at once.
  it.each([
    ['invalid_plan', true],
    ['invalid_workflow', true],
    ['submit_rejected', true],
    ['heartbeat_timeout', false],
    ['workflow_failed', false],
    ['agent_crashed', false],
    ['missing_plan', false],
    ['missing_review', false],
    ['invalid_review', false],
    ['not_merged', false],
    ['not_deployed', false],
    ['INVALID_PLAN', false],
    ['', false],
    [undefined, false],
    [null, false],
  ])('isTerminal(%j) is %s', (code, terminal) => {
    expect(isTerminal(code)).toBe(terminal);
  });

  it('the declared terminal codes are exactly the three, and a StageResultError says whether it is terminal', () => {
    expect([...TERMINAL_RUN_FAILURES].sort()).toEqual(['invalid_plan', 'invalid_workflow', 'submit_rejected']);
    const plan = new StageResultError('invalid_plan', 'tasks.0.dependsOn.0: cycle: a → b → a');
    expect(plan).toBeInstanceOf(NonRetriableError);
    expect(plan).toMatchObject({ code: 'invalid_plan', terminal: true, name: 'StageResultError' });
    expect(new StageResultError('not_merged', 'conflict').terminal).toBe(false);
  });

  // Every way a run can end badly, settled directly on real PostgreSQL: the run's error
  // code, and whether its task is retried (queued) or stopped at once.
  const STAGE_IDEA: Record<string, string> = { planning: 'planning', implementation: 'running_tasks', review: 'qa_review', integration: 'integration', deploy: 'deployment' };
  const settleCases: { name: string; stage: string; artifact?: { kind: string; data: unknown }; outcome: RunOutcome; code: string; task: string }[] = [
    { name: 'planning without a plan', stage: 'planning', outcome: { succeeded: true }, code: 'missing_plan', task: 'queued' },
    { name: 'a plan that is not JSON', stage: 'planning', artifact: { kind: 'plan', data: '{"tasks": [' }, outcome: { succeeded: true }, code: 'invalid_plan', task: 'failed' },
    { name: 'a plan without tasks', stage: 'planning', artifact: { kind: 'plan', data: { tasks: [] } }, outcome: { succeeded: true }, code: 'invalid_plan', task: 'failed' },
    { name: 'review without a verdict', stage: 'review', artifact: { kind: 'review', data: { summary: 'hmm' } }, outcome: { succeeded: true }, code: 'invalid_review', task: 'queued' },
    { name: 'review artifact not an object', stage: 'review', artifact: { kind: 'review', data: ['approved'] }, outcome: { succeeded: true }, code: 'invalid_review', task: 'queued' },
    { name: 'integration that did not merge', stage: 'integration', artifact: { kind: 'integration', data: { merged: false, message: 'conflict' } }, outcome: { succeeded: true }, code: 'not_merged', task: 'queued' },
    { name: 'deploy without a version', stage: 'deploy', artifact: { kind: 'deploy', data: { deployed: false } }, outcome: { succeeded: true }, code: 'not_deployed', task: 'queued' },
    { name: 'a step that reports a crash', stage: 'implementation', outcome: { succeeded: false, errorCode: 'agent_crashed', errorMessage: 'exit 1' }, code: 'agent_crashed', task: 'queued' },
    { name: 'a step that reports no code', stage: 'implementation', outcome: { succeeded: false }, code: '', task: 'queued' },
    { name: 'a step that reports its plan invalid', stage: 'planning', outcome: { succeeded: false, errorCode: 'invalid_plan', errorMessage: 'no tasks' }, code: 'invalid_plan', task: 'failed' },
    { name: 'a Workflow that cannot be built', stage: 'implementation', outcome: { succeeded: false, errorCode: 'invalid_workflow', errorMessage: 'head must be a git branch name' }, code: 'invalid_workflow', task: 'blocked' },
    { name: 'a Workflow the cluster rejects', stage: 'deploy', outcome: { succeeded: false, errorCode: 'submit_rejected', errorMessage: 'HTTP 403 Forbidden' }, code: 'submit_rejected', task: 'blocked' },
  ];
  it.each(settleCases)('$name → $code, task $task', async ({ stage, artifact, outcome, code, task }) => {
    const db = await createTestDb({ max: 2 });
    const cfg = loadConfig({ FACTEUR_MAX_ATTEMPTS: '3' });
    const [idea] = await db.sql`
      insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status)
      values ('api', 'settle', 't', 'acme/settle', '{}', ${STAGE_IDEA[stage]!}) returning id`;
    const [t] = await db.sql`
      insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, attempts)
      values (${idea!.id}, 'k', ${stage}, 'running', 'T', 'acme/settle', 1) returning id`;
    const [run] = await db.sql`
      insert into codex_kb.task_runs (task_id, idea_id, attempt, status, external_run_id, stage, repository)
      values (${t!.id}, ${idea!.id}, 1, 'running', 'wf-settle', ${stage}, 'acme/settle') returning id`;
    if (artifact) {
      await db.sql`
        insert into codex_kb.artifacts (idea_id, task_id, run_id, artifact_type, data)
        values (${idea!.id}, ${t!.id}, ${run!.id}, ${artifact.kind}, ${db.sql.json(artifact.data as never)})`;
    }
    expect(await transaction(db.sql, [`idea:${idea!.id}`], (tx) => settleRun(tx, cfg, run!.id, outcome))).toBe('failed'); // what it became, as the row says
    const [after] = await db.sql`select status, coalesce(error_code, '') as code from codex_kb.task_runs where id = ${run!.id}`;
    expect(after).toEqual({ status: 'failed', code });
    const [taskAfter] = await db.sql`select state from codex_kb.tasks where id = ${t!.id}`;
    expect(taskAfter!.state).toBe(task);
    const [ideaAfter] = await db.sql`select status from codex_kb.ideas where id = ${idea!.id}`;
    expect(ideaAfter!.status).toBe(task === 'queued' ? STAGE_IDEA[stage] : 'blocked');
  });
});
