// The unhappy paths: crashes around submission, silent steps, review loops, regressions,
// rejected plans, killed pods, operators stepping in — and which failures are retried and
// which stop a task at once.
import { describe, expect, it } from 'vitest';
import type { WorkflowBackend } from '../../shared/dispatch/index.js';
import { postEvent } from '../helpers/http.js';
import { ideaDetail, plan, STAGE_RESULT, startSystem, submitIdea, tick, WorkflowWatch, type System } from '../helpers/system.js';

const status = async (sys: System, ideaId: string) =>
  (await sys.db.sql`select status, status_reason from codex_kb.ideas where id = ${ideaId}`)[0] as { status: string; status_reason: string | null };

async function throughPlanning(sys: System, ideaId: string, keys = ['only']) {
  await tick(sys);
  const watch = new WorkflowWatch(sys, ideaId);
  await (await watch.next()).run([{ kind: 'plan', data: plan(keys) }]);
  return watch;
}

describe('crash between commit and create', () => {
  it('a create that never happened (process died) is made by the next tick: exactly one Workflow', async () => {
    // First "instance": its Kubernetes call dies after the run was committed.
    const dying: WorkflowBackend = {
      namespace: 'argo-workflows',
      submit: async () => {
        throw new Error('process killed before the create was sent');
      },
      delete: async () => false,
    };
    const first = await startSystem({ FACTEUR_SUBMIT_STALE_S: '1' }, { workflows: dying });
    const { ideaId } = await submitIdea(first, { id: 'crash-1' });
    await tick(first);
    const [run] = await first.db.sql`select id, status, external_run_id from codex_kb.task_runs where idea_id = ${ideaId}`;
    expect(run!.status).toBe('submitting');
    await first.close();

    // "After the restart": another instance on the same database, with a working API.
    const second = await startSystem({ FACTEUR_SUBMIT_STALE_S: '1' });
    try {
      await first.db.sql`update codex_kb.task_runs set queued_at = now() - interval '1 minute' where id = ${run!.id}`;
      // the second instance's dispatch, over the first instance's database
      const healed = await startSystemOn(first, second);
      await tick(healed);
      await tick(healed);
      const created = second.kube!.workflows();
      expect(created.map((w: any) => w.metadata.name)).toEqual([run!.external_run_id]);
      const [after] = await first.db.sql`select status, workflow_uid from codex_kb.task_runs where id = ${run!.id}`;
      expect(after).toEqual({ status: 'running', workflow_uid: (created[0] as any).metadata.uid });
      await healed.close();
    } finally {
      await second.close();
    }
  });

  it('a run that ends while its create is being retried gets no second create (the retry asks first)', async () => {
    const sys = await startSystem();
    try {
      const { ideaId } = await submitIdea(sys, { id: 'abandon-1' });
      sys.kube!.onCreate(async (wf) => {
        // while the answer to this create is lost, the run ends (an operator cancelled it,
        // or it timed out and the tick deleted what it could see)
        await sys.db.sql`update codex_kb.task_runs set status = 'cancelled' where external_run_id = ${wf.metadata.name}`;
        throw new Error('connection dropped after the object was stored');
      });
      await tick(sys);
      const creates = sys.kube!.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/workflows'));
      expect(creates).toHaveLength(1); // the retry asked and did not create again
      // the one that landed unanswered stays (deleting it would free its name for a second
      // create); its token Secret is gone, so its step cannot report for the ended run
      expect(sys.kube!.workflows()).toHaveLength(1);
      expect(sys.kube!.secrets()).toEqual([]);
      const [run] = await sys.db.sql`select status from codex_kb.task_runs where idea_id = ${ideaId}`;
      expect(run!.status).toBe('cancelled');
    } finally {
      await sys.close();
    }
  });

  it('a create that landed but whose answer was lost counts once (AlreadyExists is success)', async () => {
    const sys = await startSystem();
    try {
      let lost = 1;
      sys.kube!.onCreate(() => {
        if (lost-- > 0) throw new Error('connection dropped after the object was stored');
      });
      const { ideaId } = await submitIdea(sys, { id: 'lost-answer' });
      await tick(sys);
      expect(sys.kube!.workflows()).toHaveLength(1);
      const [run] = await sys.db.sql`select status, workflow_uid from codex_kb.task_runs where idea_id = ${ideaId}`;
      expect(run).toEqual({ status: 'running', workflow_uid: (sys.kube!.workflows()[0] as any).metadata.uid });
    } finally {
      await sys.close();
    }
  });

  it('Argo throttling (429) and errors (500) are retried; a run left submitting is re-submitted by the tick', async () => {
    const sys = await startSystem({ FACTEUR_SUBMIT_STALE_S: '1' });
    try {
      sys.kube!.failNext(3, 500); // as many as the client tries per submission
      const { ideaId } = await submitIdea(sys, { id: 'argo-down' });
      await tick(sys);
      const [run] = await sys.db.sql`select id, status, submit_attempts from codex_kb.task_runs where idea_id = ${ideaId}`;
      expect(run).toMatchObject({ status: 'submitting', submit_attempts: 1 });
      sys.kube!.failNext(2, 429, 0);
      await sys.db.sql`update codex_kb.task_runs set queued_at = now() - interval '1 minute' where id = ${run!.id}`;
      await tick(sys);
      expect(sys.kube!.workflows()).toHaveLength(1);
      const [after] = await sys.db.sql`select status from codex_kb.task_runs where id = ${run!.id}`;
      expect(after!.status).toBe('running');
    } finally {
      await sys.close();
    }
  });
});

/** Serves handlers built over `dbOf`'s database with `kubeOf`'s Kubernetes API. */
async function startSystemOn(dbOf: System, kubeOf: System): Promise<System> {
  const { createDispatchHandler } = await import('../../functions/dispatch/index.js');
  const { serve } = await import('../helpers/http.js');
  const { silentLogger } = await import('../../shared/log/index.js');
  const dispatch = await serve(createDispatchHandler({ sql: dbOf.db.sql, config: kubeOf.config, log: silentLogger, workflows: kubeOf.workflows, callbackBaseUrl: kubeOf.urls.callbacks }));
  return { ...kubeOf, db: dbOf.db, urls: { ...kubeOf.urls, dispatch: dispatch.url }, close: dispatch.close };
}

describe('liveness', () => {
  it('a silent run times out, is retried as a new attempt, and the idea is blocked after max attempts', async () => {
    const sys = await startSystem({ FACTEUR_MAX_ATTEMPTS: '2', FACTEUR_HEARTBEAT_TIMEOUT_S: '30' });
    try {
      const { ideaId } = await submitIdea(sys, { id: 'silent' });
      const watch = new WorkflowWatch(sys, ideaId);
      await tick(sys);
      const a1 = await watch.next();
      expect((await a1.post({ type: 'started' })).status).toBe(202);
      await sys.db.sql`update codex_kb.task_runs set last_heartbeat_at = now() - interval '1 hour' where idea_id = ${ideaId}`;
      const r1 = await tick(sys);
      expect(r1).toMatchObject({ timedOut: 1, dispatched: 1 });
      expect(sys.kube!.workflows().map((w: any) => w.metadata.name)).not.toContain(a1.name); // deleted
      const a2 = await watch.next();
      expect(a2.name).toMatch(/-a2$/);
      await sys.db.sql`update codex_kb.task_runs set submitted_at = now() - interval '1 hour' where idea_id = ${ideaId} and status = 'running'`;
      const r2 = await tick(sys);
      expect(r2.timedOut).toBe(1);
      const s = await status(sys, ideaId);
      expect(s.status).toBe('blocked');
      expect(s.status_reason).toMatch(/task planning failed 2 time\(s\); last: heartbeat_timeout/);
      const [task] = await sys.db.sql`select state from codex_kb.tasks where idea_id = ${ideaId}`;
      expect(task!.state).toBe('blocked');
    } finally {
      await sys.close();
    }
  });

  it('argo.workflows.completions settles a run whose step never called back (pod killed)', async () => {
    const sys = await startSystem({ FACTEUR_MAX_ATTEMPTS: '3' });
    try {
      const { ideaId } = await submitIdea(sys, { id: 'killed' });
      await tick(sys);
      const step = await new WorkflowWatch(sys, ideaId).next();
      const body = JSON.stringify({ metadata: { name: step.name, namespace: 'argo-workflows', uid: 'u-1', labels: {} }, status: { phase: 'Failed', message: 'pod deleted' }, stage: 'planning' });
      const r = await postEvent(sys.urls.intake, { topic: 'argo.workflows.completions', body });
      expect(r.status).toBe(202);
      expect(r.body).toMatchObject({ settled: true, runId: step.runId });
      expect((await postEvent(sys.urls.intake, { topic: 'argo.workflows.completions', body })).status).toBe(200);
      const [run] = await sys.db.sql`select status, error_code from codex_kb.task_runs where id = ${step.runId}`;
      expect(run).toEqual({ status: 'failed', error_code: 'workflow_failed' });
      const [task] = await sys.db.sql`select state from codex_kb.tasks where idea_id = ${ideaId}`;
      expect(task!.state).toBe('queued');
    } finally {
      await sys.close();
    }
  });
});

describe('plans', () => {
  // The plan's tasks by key, each with the keys it depends on (hard).
  const shapes: { name: string; tasks: [string, string[]][]; problem: string }[] = [
    { name: 'a self-loop', tasks: [['a', ['a']], ['b', ['a']]], problem: 'tasks.0.dependsOn.0: task "a" depends on itself' },
    { name: 'a 2-cycle', tasks: [['a', ['b']], ['b', ['a']]], problem: 'tasks.0.dependsOn.0: cycle: a → b → a' },
    { name: 'a 3-cycle', tasks: [['a', ['c']], ['b', ['a']], ['c', ['b']]], problem: 'tasks.0.dependsOn.0: cycle: a → c → b → a' },
    {
      name: 'a cycle off a DAG branch',
      tasks: [['root', []], ['x', ['root', 'z']], ['y', ['x']], ['z', ['y']], ['leaf', ['root']]],
      problem: 'tasks.1.dependsOn.1: cycle: x → z → y → x',
    },
  ];
  it.each(shapes)('a plan with $name fails the run with the problem named exactly, fails the task and blocks the idea', async ({ tasks, problem }) => {
    const sys = await startSystem();
    try {
      const { ideaId, taskId } = await submitIdea(sys, { id: `cyclic-${tasks.length}-${problem.length}` });
      await tick(sys);
      const step = await new WorkflowWatch(sys, ideaId).next();
      const bad = plan(tasks.map(([key]) => key), false);
      tasks.forEach(([, deps], i) => ((bad.tasks[i] as any).dependsOn = deps.map((key) => ({ key, type: 'hard' }))));
      await step.run([{ kind: 'plan', data: bad }]);
      expect(await status(sys, ideaId)).toEqual({ status: 'blocked', status_reason: `the plan was rejected: ${problem}` });
      const [run] = await sys.db.sql`select status, error_code, error_message from codex_kb.task_runs where id = ${step.runId}`;
      expect(run).toEqual({ status: 'failed', error_code: 'invalid_plan', error_message: problem });
      const [task] = await sys.db.sql`select state, state_reason, attempts from codex_kb.tasks where id = ${taskId}`;
      expect(task).toEqual({ state: 'failed', state_reason: problem, attempts: 1 }); // at once: no retry
      expect(await sys.db.sql`select 1 from codex_kb.tasks where idea_id = ${ideaId} and stage = 'implementation'`).toHaveLength(0);
    } finally {
      await sys.close();
    }
  });

  it('a Markdown plan is normalized into tasks with typed dependencies, decisions recorded', async () => {
    const sys = await startSystem();
    try {
      const { ideaId } = await submitIdea(sys, { id: 'markdown' });
      await tick(sys);
      const step = await new WorkflowWatch(sys, ideaId).next();
      const md = [
        '# Plan', '', '## Tasks', '', '### Schema', 'Acceptance:', '- migration applies', '',
        '### API', 'Depends on: Schema', 'Acceptance:', '- endpoints respond', '',
        '### Docs', 'Depends on: API (soft)', 'Acceptance:', '- docs published', '',
        '## Risks', '- Data loss: likelihood low, impact high, mitigation: backups', '',
      ].join('\n');
      await step.run([{ kind: 'plan', data: md }]);
      const detail = await ideaDetail(sys, ideaId);
      // accepted, and the first task (no dependencies) dispatched in the same request path
      expect(detail.idea.status).toBe('running_tasks');
      const impl = detail.tasks.filter((t: any) => t.stage === 'implementation');
      expect(impl.map((t: any) => t.key).sort()).toEqual(['api', 'docs', 'schema']);
      expect(impl.find((t: any) => t.key === 'docs').dependsOn).toEqual([{ key: 'api', type: 'soft' }]);
      const [idea] = await sys.db.sql`select metadata->'planDecisions' as d from codex_kb.ideas where id = ${ideaId}`;
      expect((idea!.d as string[]).length).toBeGreaterThan(0);
    } finally {
      await sys.close();
    }
  });
});

describe('review loop', () => {
  it('changes requested sends the tasks back with the review context, and stops after the cycle limit', async () => {
    const sys = await startSystem({ FACTEUR_REVIEW_MAX_CYCLES: '2' });
    try {
      const { ideaId } = await submitIdea(sys, { id: 'picky' });
      const watch = await throughPlanning(sys, ideaId, ['one']);
      await (await watch.next()).run(STAGE_RESULT.implementation!);
      const changes = [{ kind: 'review', data: { verdict: 'changes_requested', summary: 'handle empty input', tasks: ['one'] } }];
      const review1 = await watch.next();
      expect(review1.stage).toBe('review');
      await review1.run(changes);
      expect((await status(sys, ideaId)).status).toBe('running_tasks');
      const fix = await watch.next();
      expect(fix.stage).toBe('implementation');
      expect(fix.params.attempt).toBe('2');
      expect(fix.decoded('eventBody').reviewContext).toMatchObject({ summary: 'handle empty input', cycle: 1 });
      await fix.run(STAGE_RESULT.implementation!);
      const review2 = await watch.next();
      expect(review2.decoded('eventBody').taskKey).toBe('review-2');
      await review2.run(changes);
      const s = await status(sys, ideaId);
      expect(s).toEqual({ status: 'blocked', status_reason: 'review requested changes 2 times (limit 2)' });
      expect(await watch.pending()).toEqual([]);
    } finally {
      await sys.close();
    }
  });
});

describe('monitoring', () => {
  it('a regression in production opens remediation, which runs back through review, integration and deploy', async () => {
    const sys = await startSystem({ FACTEUR_MONITOR_WINDOW_S: '3600' });
    try {
      const { ideaId } = await submitIdea(sys, { id: 'regress', repository: 'acme/shop' });
      const watch = await throughPlanning(sys, ideaId, ['only']);
      for (const stage of ['implementation', 'review', 'integration', 'deploy']) await (await watch.next()).run(STAGE_RESULT[stage]!);
      expect((await status(sys, ideaId)).status).toBe('monitoring');

      const healthy = await postEvent(sys.urls.intake, { topic: 'codex.telemetry', body: JSON.stringify({ id: 't-1', repository: 'acme/shop', version: 'v1.2.3', metrics: { error_rate: 0.01 } }) });
      expect(healthy.body).toMatchObject({ matched: 1, breaches: [], remediation: [] });
      const bad = JSON.stringify({ id: 't-2', repository: 'acme/shop', version: 'v1.2.3', metrics: { error_rate: 0.2, latency_p99_ms: 300 } });
      const r = await postEvent(sys.urls.intake, { topic: 'codex.telemetry', body: bad });
      expect(r.status).toBe(202);
      expect(r.body.remediation).toEqual([ideaId]);
      expect((await postEvent(sys.urls.intake, { topic: 'codex.telemetry', body: bad })).status).toBe(200);
      expect((await status(sys, ideaId)).status).toBe('remediation');

      await tick(sys);
      const fix = await watch.next();
      expect(fix.decoded('eventBody')).toMatchObject({ taskKey: 'remediation-1', regression: [{ metric: 'error_rate', value: 0.2 }] });
      expect((await status(sys, ideaId)).status).toBe('running_tasks');
      await fix.run(STAGE_RESULT.implementation!);
      for (const stage of ['review', 'integration', 'deploy']) {
        const step = await watch.next();
        expect(step.stage).toBe(stage);
        await step.run(STAGE_RESULT[stage]!);
      }
      expect((await status(sys, ideaId)).status).toBe('monitoring');
      await sys.db.sql`update codex_kb.ideas set monitoring_until = now() - interval '1 second' where id = ${ideaId}`;
      expect((await tick(sys)).completedMonitoring).toBe(1);
      expect(await status(sys, ideaId)).toEqual({ status: 'completed', status_reason: 'monitoring window elapsed without regression' });
    } finally {
      await sys.close();
    }
  });
});

describe('operator controls', () => {
  it('pause stops dispatching, resume continues, cancel deletes running workflows; every action attributed', async () => {
    const sys = await startSystem({ FACTEUR_STATUS_TOKEN: 'ops-token' });
    try {
      const { ideaId } = await submitIdea(sys, { id: 'operated' });
      const act = (action: string, token = 'ops-token') =>
        fetch(`${sys.urls.status}/v1/ideas/${ideaId}/${action}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'x-facteur-actor': 'alice' } });
      expect((await act('pause', 'wrong')).status).toBe(401);
      const paused = await act('pause');
      expect(paused.status).toBe(200);
      expect(await paused.json()).toMatchObject({ from: 'registered', status: 'paused' });
      expect((await tick(sys)).dispatched).toBe(0);
      expect(sys.kube!.workflows()).toHaveLength(0);
      expect((await act('pause')).status).toBe(409);
      expect((await (await act('resume')).json()) as any).toMatchObject({ status: 'registered' });
      expect((await tick(sys)).dispatched).toBe(1);
      const step = await new WorkflowWatch(sys, ideaId).next();
      await step.post({ type: 'started' });
      const cancelled = await act('cancel');
      expect(((await cancelled.json()) as any).status).toBe('cancelled');
      expect(sys.kube!.workflows()).toHaveLength(0);
      const [run] = await sys.db.sql`select status from codex_kb.task_runs where id = ${step.runId}`;
      expect(run!.status).toBe('cancelled');
      expect((await step.post({ type: 'completed', outcome: 'succeeded' })).status).toBe(409);
      expect((await act('resume')).status).toBe(409);
      const audit = await sys.db.sql`select actor, action from codex_kb.audit_log where idea_id = ${ideaId} and actor like '%via token:status' order by id`;
      expect(audit.map((a) => `${a.actor} ${a.action}`)).toEqual([
        'alice via token:status idea.pause', 'alice via token:status idea.resume', 'alice via token:status idea.cancel',
      ]);
    } finally {
      await sys.close();
    }
  });

  it('retry gives a blocked idea another round', async () => {
    const sys = await startSystem({ FACTEUR_MAX_ATTEMPTS: '1' });
    try {
      const { ideaId } = await submitIdea(sys, { id: 'retry-me' });
      await tick(sys);
      const watch = new WorkflowWatch(sys, ideaId);
      await (await watch.next()).run([], 'failed', { error: { code: 'agent_crashed', message: 'boom' } });
      expect((await status(sys, ideaId)).status).toBe('blocked');
      const res = await fetch(`${sys.urls.status}/v1/ideas/${ideaId}/retry`, { method: 'POST' });
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).status).toBe('registered');
      await tick(sys);
      const again = await watch.next();
      expect(again.params.attempt).toBe('2');
    } finally {
      await sys.close();
    }
  });
});

// Which failure codes are terminal, table-tested: test/lifecycle/retry-clock.test.ts.
describe('terminal failures from dispatch', () => {
  it('a Workflow that cannot be built blocks its task and the idea at once, the reason naming the problem', async () => {
    const sys = await startSystem({ FACTEUR_MAX_ATTEMPTS: '3' });
    try {
      const { ideaId, taskId } = await submitIdea(sys, { id: 'unbuildable' });
      await sys.db.sql`update codex_kb.tasks set branch = 'no spaces allowed' where id = ${taskId}`;
      const report = await tick(sys);
      expect(report.dispatched).toBe(1);
      expect(sys.kube!.workflows()).toHaveLength(0);
      const why = 'task planning cannot run: its Workflow cannot be built: cannot build the workflow: head must be a git branch name: must not contain spaces, control characters or any of ~ ^ : ? * [ \\';
      const [task] = await sys.db.sql`select state, state_reason, attempts from codex_kb.tasks where id = ${taskId}`;
      expect(task).toEqual({ state: 'blocked', state_reason: why, attempts: 1 });
      expect(await status(sys, ideaId)).toEqual({ status: 'blocked', status_reason: why });
      const runs = await sys.db.sql`select status, error_code from codex_kb.task_runs where task_id = ${taskId}`;
      expect(runs).toEqual([{ status: 'failed', error_code: 'invalid_workflow' }]);
      await tick(sys);
      expect(await sys.db.sql`select 1 from codex_kb.task_runs where task_id = ${taskId}`).toHaveLength(1); // never retried
    } finally {
      await sys.close();
    }
  });

  it('a Workflow the cluster rejects (403) blocks its task and the idea at once, the reason naming the problem', async () => {
    const sys = await startSystem({ FACTEUR_MAX_ATTEMPTS: '3' });
    try {
      const { ideaId, taskId } = await submitIdea(sys, { id: 'forbidden' });
      sys.kube!.failNext(1, 403);
      await tick(sys);
      const [task] = await sys.db.sql`select state, state_reason, attempts from codex_kb.tasks where id = ${taskId}`;
      expect(task).toMatchObject({ state: 'blocked', attempts: 1 });
      expect(task!.state_reason).toMatch(/^task planning cannot run: the cluster rejected its Workflow: .*HTTP 403/);
      expect(await status(sys, ideaId)).toEqual({ status: 'blocked', status_reason: task!.state_reason });
      const runs = await sys.db.sql`select status, error_code from codex_kb.task_runs where task_id = ${taskId}`;
      expect(runs).toEqual([{ status: 'failed', error_code: 'submit_rejected' }]);
      await tick(sys);
      expect(await sys.db.sql`select 1 from codex_kb.task_runs where task_id = ${taskId}`).toHaveLength(1);
      // an operator's retry gives it another round
      expect((await fetch(`${sys.urls.status}/v1/ideas/${ideaId}/retry`, { method: 'POST' })).status).toBe(200);
      await tick(sys);
      expect(sys.kube!.workflows()).toHaveLength(1);
    } finally {
      await sys.close();
    }
  });
});
