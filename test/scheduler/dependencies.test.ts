// Typed dependencies, table-driven: hard, soft, artifact and approval — and the approval
// round trip through the status API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promoteReadyTasks } from '../../shared/scheduler/index.js';
import { startSystem, type System } from '../helpers/system.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(() => sys.close());

let n = 0;
/** An idea with task `b` depending on `a` (in state `aState`) by `type`; returns ids. */
async function pair(type: string, aState: string, artifact?: string) {
  n++;
  const [idea] = await sys.db.sql`
    insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status)
    values ('api', ${'deps-' + n}, 't', 'acme/deps', '{}', 'running_tasks') returning id`;
  const [a] = await sys.db.sql`insert into codex_kb.tasks (idea_id, key, stage, state, title, repository) values (${idea!.id}, 'a', 'implementation', ${aState}, 'A', 'acme/deps') returning id`;
  const [b] = await sys.db.sql`insert into codex_kb.tasks (idea_id, key, stage, title, repository) values (${idea!.id}, 'b', 'implementation', 'B', 'acme/deps') returning id`;
  await sys.db.sql`insert into codex_kb.task_dependencies (task_id, depends_on_task_id, dependency_type, artifact_kind) values (${b!.id}, ${a!.id}, ${type}, ${artifact ?? null})`;
  return { ideaId: idea!.id as string, a: a!.id as string, b: b!.id as string };
}
const stateOf = async (id: string) => (await sys.db.sql`select state from codex_kb.tasks where id = ${id}`)[0]!.state;

describe('dependency types', () => {
  it.each([
    ['hard', 'succeeded', 'ready'],
    ['hard', 'running', 'pending'],
    ['hard', 'failed', 'pending'],
    // soft: only orders the two while the other still waits to run
    ['soft', 'ready', 'pending'],
    ['soft', 'queued', 'pending'],
    ['soft', 'running', 'ready'],
    ['soft', 'blocked', 'ready'],
    ['soft', 'succeeded', 'ready'],
  ])('%s on a task that is %s → %s', async (type, aState, want) => {
    const p = await pair(type, aState);
    await promoteReadyTasks(sys.db.sql, p.ideaId);
    expect(await stateOf(p.b)).toBe(want);
  });

  it('artifact: waits for the named artifact of the other task, not for its end', async () => {
    const p = await pair('artifact', 'running', 'test-report');
    await promoteReadyTasks(sys.db.sql, p.ideaId);
    expect(await stateOf(p.b)).toBe('pending');
    await sys.db.sql`insert into codex_kb.artifacts (idea_id, task_id, artifact_type, data) values (${p.ideaId}, ${p.a}, 'diff-stats', '{}')`;
    await promoteReadyTasks(sys.db.sql, p.ideaId);
    expect(await stateOf(p.b)).toBe('pending');
    await sys.db.sql`insert into codex_kb.artifacts (idea_id, task_id, artifact_type, data) values (${p.ideaId}, ${p.a}, 'test-report', '{}')`;
    await promoteReadyTasks(sys.db.sql, p.ideaId);
    expect(await stateOf(p.b)).toBe('ready');
  });

  it('approval: asks for an approval once the other task succeeded; approve → ready, attributed', async () => {
    const p = await pair('approval', 'running');
    await promoteReadyTasks(sys.db.sql, p.ideaId);
    expect(await stateOf(p.b)).toBe('pending');
    await sys.db.sql`update codex_kb.tasks set state = 'succeeded' where id = ${p.a}`;
    await promoteReadyTasks(sys.db.sql, p.ideaId);
    await promoteReadyTasks(sys.db.sql, p.ideaId); // asked once, however often the scheduler runs
    expect(await stateOf(p.b)).toBe('awaiting_approval');
    const approvals = await sys.db.sql`select id, status from codex_kb.approvals where task_id = ${p.b}`;
    expect(approvals).toEqual([{ id: expect.any(String), status: 'pending' }]);
    const res = await fetch(`${sys.urls.status}/v1/approvals/${approvals[0]!.id}/approve`, { method: 'POST', headers: { 'x-facteur-actor': 'bob' }, body: JSON.stringify({ reason: 'looks safe' }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'approved', taskId: p.b });
    expect((await fetch(`${sys.urls.status}/v1/approvals/${approvals[0]!.id}/reject`, { method: 'POST' })).status).toBe(409);
    await promoteReadyTasks(sys.db.sql, p.ideaId);
    expect(await stateOf(p.b)).toBe('ready');
    // the route is a vote by the caller: the vote, then the decision it made, both attributed
    const audit = await sys.db.sql`select actor, action, details from codex_kb.audit_log where subject_id = ${approvals[0]!.id} order by id`;
    expect(audit).toMatchObject([
      { actor: 'bob via open', action: 'approval.vote', details: { voter: 'bob', decision: 'approve', reason: 'looks safe' } },
      { actor: 'bob via open', action: 'approval.approved' },
    ]);
  });

  it('approval rejected: the task and the idea are blocked with the reason', async () => {
    const p = await pair('approval', 'succeeded');
    await promoteReadyTasks(sys.db.sql, p.ideaId);
    const [ap] = await sys.db.sql`select id from codex_kb.approvals where task_id = ${p.b}`;
    const res = await fetch(`${sys.urls.status}/v1/approvals/${ap!.id}/reject`, { method: 'POST', body: JSON.stringify({ reason: 'too risky' }) });
    expect(res.status).toBe(200);
    expect(await stateOf(p.b)).toBe('blocked');
    const [idea] = await sys.db.sql`select status, status_reason from codex_kb.ideas where id = ${p.ideaId}`;
    expect(idea!.status).toBe('blocked');
    expect(idea!.status_reason).toMatch(/rejected by open: too risky/);
  });
});

describe('stuck ideas', () => {
  it('an idea without progress for FACTEUR_STUCK_MINUTES is reported once per window as an event', async () => {
    const p = await pair('hard', 'running');
    await sys.db.sql`update codex_kb.ideas set last_progress_at = now() - interval '2 hours' where id = ${p.ideaId}`;
    const first = (await (await fetch(`${sys.urls.dispatch}/tick`, { method: 'POST' })).json()) as any;
    expect(first.stuck).toBeGreaterThanOrEqual(1);
    const events = await sys.db.sql`select data from codex_kb.outbox where type = 'facteur.idea.stuck' and subject = ${p.ideaId}`;
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ ideaId: p.ideaId, status: 'running_tasks' });
    await fetch(`${sys.urls.dispatch}/tick`, { method: 'POST' });
    expect(await sys.db.sql`select 1 from codex_kb.outbox where type = 'facteur.idea.stuck' and subject = ${p.ideaId}`).toHaveLength(1);
  });
});
