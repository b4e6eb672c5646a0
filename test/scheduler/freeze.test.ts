// Freeze windows at the claim, with an injected clock (years away from the database's, so a
// statement that read the database's now() would show): a deploy inside a window waits —
// `ready`, `frozen until <ISO>`, `not_before` at the window's end, shown by the status API —
// is not claimed a moment before the end and is claimed at the end; never blocked. Under
// `warn` it is claimed and a finding says it would have waited. Stages not frozen run.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import type { Sql } from '../../shared/db/index.js';
import { activatePack, putPack, putRepositoryPolicy } from '../../shared/policy/store.js';
import { schedule, type Clock } from '../../shared/scheduler/index.js';
import { getIdea } from '../../shared/status/index.js';
import { createTestDb } from '../helpers/db.js';

// the earlier tests' deploys stay submitting: room for them all
const config = loadConfig({ FACTEUR_LIMIT_STAGES: 'deploy=10' });

class TestClock implements Clock {
  constructor(private t: number) {}
  now(): Date {
    return new Date(this.t);
  }
  at(iso: string): this {
    this.t = Date.parse(iso);
    return this;
  }
}

// Fridays 16:00 to Monday 08:00, Paris time; and a holiday range in UTC.
const pack = (key: string, mode: string) => `schemaVersion: 1
key: ${key}
version: 1
rules:
  freeze:
    mode: ${mode}
    stages: [deploy]
    windows:
      - { weekly: { days: [fri], from: "16:00", to: "08:00" }, timeZone: Europe/Paris }
      - { weekly: { days: [sat, sun], from: "08:00", to: "08:00" }, timeZone: Europe/Paris }
      - { start: "2031-12-24T00:00:00Z", end: "2031-12-27T00:00:00Z" }
`;

let sql: Sql;
let n = 0;

beforeAll(async () => {
  sql = (await createTestDb({ max: 4 })).sql;
  for (const [key, mode] of [['frozen', 'enforce'], ['watched', 'warn']] as const) {
    await putPack(sql, pack(key, mode), 'api', 'test');
    await activatePack(sql, key, 1, 'test');
    await putRepositoryPolicy(sql, `acme/${key}`, { pack: { key, version: 1 }, overrides: {}, repoLocal: false }, 'test');
  }
});

async function readyTask(repository: string, stage: 'deploy' | 'implementation' = 'deploy') {
  n++;
  const [idea] = await sql<{ id: string }[]>`
    insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status)
    values ('api', ${'freeze-' + n}, 'Ship it', ${repository}, '{}', ${stage === 'deploy' ? 'deployment' : 'running_tasks'}) returning id`;
  const [task] = await sql<{ id: string }[]>`
    insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, branch)
    values (${idea!.id}, ${stage + '-' + n}, ${stage}, 'ready', 'Deploy', ${repository}, ${stage === 'implementation' ? 'facteur/x' + n : null})
    returning id`;
  return { ideaId: idea!.id, taskId: task!.id };
}

const taskRow = async (id: string) =>
  (await sql<{ state: string; state_reason: string | null; not_before: Date | null }[]>`select state, state_reason, not_before from codex_kb.tasks where id = ${id}`)[0]!;

describe('a freeze window at the claim', () => {
  it('a deploy waits through a weekend window (enforced), visible in the status API, then runs at its end', async () => {
    const { ideaId, taskId } = await readyTask('acme/frozen');
    // Friday 2031-03-21 17:00 Paris (CET, UTC+1); the window runs to Monday 08:00 CET = 07:00Z
    const clock = new TestClock(0).at('2031-03-21T16:00:00Z');
    expect(await schedule({ sql, config, clock }, { ideaId })).toEqual([]);
    const END = '2031-03-24T07:00:00.000Z';
    expect(await taskRow(taskId)).toEqual({ state: 'ready', state_reason: `frozen until ${END}`, not_before: new Date(END) });
    const detail = await getIdea(sql, ideaId);
    expect(detail!.tasks[0]).toMatchObject({ state: 'ready', stateReason: `frozen until ${END}`, notBefore: END });
    expect(detail!.idea.status).toBe('deployment'); // not blocked
    const findings = await sql`select rule, result, enforced, would_block, checkpoint from codex_kb.policy_findings where task_id = ${taskId}`;
    expect(findings).toEqual([{ rule: 'freeze', result: 'fail', enforced: true, would_block: false, checkpoint: 'claim' }]);

    // Saturday and Sunday: still waiting, and passes skip it (no new finding)
    for (const at of ['2031-03-22T12:00:00Z', '2031-03-23T23:00:00Z', '2031-03-24T06:59:59.999Z']) {
      expect(await schedule({ sql, config, clock: clock.at(at) }, { ideaId })).toEqual([]);
    }
    expect((await sql`select count(*)::int as n from codex_kb.policy_findings where task_id = ${taskId}`)[0]!.n).toBe(1);
    // the window's end: claimed, the reason cleared
    const claims = await schedule({ sql, config, clock: clock.at(END) }, { ideaId });
    expect(claims.map((c) => c.taskId)).toEqual([taskId]);
    expect(await taskRow(taskId)).toEqual({ state: 'submitting', state_reason: null, not_before: null });
  });

  it('an absolute window holds it until its end — here followed into the weekend window it touches; another stage is not frozen', async () => {
    const deploy = await readyTask('acme/frozen');
    const impl = await readyTask('acme/frozen', 'implementation');
    const clock = new TestClock(Date.parse('2031-12-25T10:00:00Z'));
    expect(await schedule({ sql, config, clock }, { ideaId: deploy.ideaId })).toEqual([]);
    // the holidays end on Saturday 27 December at 00:00Z, inside the weekend window: Monday 08:00 CET
    expect((await taskRow(deploy.taskId)).state_reason).toBe('frozen until 2031-12-29T07:00:00.000Z');
    expect((await schedule({ sql, config, clock }, { ideaId: impl.ideaId })).map((c) => c.taskId)).toEqual([impl.taskId]);
  });

  it('under warn the deploy is claimed, and the finding says it would have waited', async () => {
    const { ideaId, taskId } = await readyTask('acme/watched');
    const clock = new TestClock(Date.parse('2031-03-22T12:00:00Z'));
    expect((await schedule({ sql, config, clock }, { ideaId })).map((c) => c.taskId)).toEqual([taskId]);
    const findings = await sql`select rule, result, enforced, would_block, message from codex_kb.policy_findings where task_id = ${taskId}`;
    expect(findings).toEqual([{ rule: 'freeze', result: 'warn', enforced: false, would_block: true, message: expect.stringMatching(/^frozen until 2031-03-24T07:00:00.000Z/) }]);
  });
});
