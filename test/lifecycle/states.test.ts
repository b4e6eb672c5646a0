// The state machines: the TypeScript tables and the database's are the same, row for row,
// and every move is checked in both places (table-driven).
import { describe, expect, it } from 'vitest';
import { PgCode } from '../../shared/db/index.js';
import {
  IDEA_STATUSES, IDEA_TRANSITIONS, RUN_STATUSES, RUN_TRANSITIONS, TASK_STATES, TASK_TRANSITIONS, canMove, pairs,
  type IdeaStatus, type TaskState,
} from '../../shared/lifecycle/states.js';
import { moveIdea, moveTask } from '../../shared/lifecycle/transitions.js';
import { IDEA_STATUSES as STATUS_API_STATUSES } from '../../shared/status/index.js';
import { createTestDb } from '../helpers/db.js';

const db = await createTestDb();

async function dbPairs(table: string, from: string, to: string): Promise<[string, string][]> {
  const rows = await db.sql.unsafe(`select ${from} as f, ${to} as t from codex_kb.${table}`);
  return rows.map((r) => [r.f, r.t] as [string, string]).sort((a, b) => (a[0] + a[1] < b[0] + b[1] ? -1 : 1));
}

async function checkValues(table: string, column: string): Promise<string[]> {
  const [row] = await db.sql`
    select pg_get_constraintdef(c.oid) as def from pg_constraint c join pg_class t on t.oid = c.conrelid
     where t.relname = ${table} and c.contype = 'c' and pg_get_constraintdef(c.oid) like ${'%' + column + '%= ANY%'}`;
  return [...String(row!.def).matchAll(/'([a-z_]+)'::text/g)].map((m) => m[1]!).sort();
}

describe('the state machines are data, mirrored by the database', () => {
  it('the transition tables match row for row', async () => {
    expect(await dbPairs('idea_transitions', 'from_status', 'to_status')).toEqual(pairs(IDEA_TRANSITIONS));
    expect(await dbPairs('task_transitions', 'from_state', 'to_state')).toEqual(pairs(TASK_TRANSITIONS));
    expect(await dbPairs('run_transitions', 'from_status', 'to_status')).toEqual(pairs(RUN_TRANSITIONS));
  });

  it('the CHECK constraints allow exactly the states the code knows', async () => {
    expect(await checkValues('ideas', 'status')).toEqual([...IDEA_STATUSES].sort());
    expect(await checkValues('tasks', 'state')).toEqual([...TASK_STATES].sort());
    expect(await checkValues('task_runs', 'status')).toEqual([...RUN_STATUSES].sort());
    expect([...STATUS_API_STATUSES].sort()).toEqual([...IDEA_STATUSES].sort());
  });

  it('terminal states have no way out', () => {
    for (const s of ['completed', 'cancelled', 'failed'] as IdeaStatus[]) expect(IDEA_TRANSITIONS[s]).toEqual([]);
    expect(TASK_TRANSITIONS.cancelled).toEqual([]);
    for (const s of ['succeeded', 'failed', 'cancelled'] as const) expect(RUN_TRANSITIONS[s]).toEqual([]);
  });
});

describe('every idea move, table-driven', async () => {
  const [{ id: ideaId }] = (await db.sql`
    insert into codex_kb.ideas (source_type, source_ref, title, repository, payload) values ('api', 'states', 't', 'a/b', '{}') returning id`) as unknown as [{ id: string }];
  const cases = IDEA_STATUSES.flatMap((from) => IDEA_STATUSES.filter((to) => to !== from).map((to) => [from, to, canMove(IDEA_TRANSITIONS, from, to)] as const));

  it.each(cases)('%s → %s allowed=%s (database trigger)', async (from, to, allowed) => {
    // put the idea in `from` without the trigger (test set-up only), then try the move
    await db.sql.begin(async (tx) => {
      await tx.unsafe(`alter table codex_kb.ideas disable trigger ideas_transition`);
      await tx`update codex_kb.ideas set status = ${from} where id = ${ideaId}`;
      await tx.unsafe(`alter table codex_kb.ideas enable trigger ideas_transition`);
    });
    const attempt = db.sql`update codex_kb.ideas set status = ${to} where id = ${ideaId}`;
    if (allowed) await expect(attempt).resolves.toBeDefined();
    else await expect(attempt).rejects.toMatchObject({ code: PgCode.CHECK_VIOLATION });
  });
});

describe('guarded moves', () => {
  it('move only from the expected state; zero rows when someone moved first; wrong moves are bugs', async () => {
    const [idea] = await db.sql`insert into codex_kb.ideas (source_type, source_ref, title, repository, payload) values ('api', 'guarded', 't', 'a/b', '{}') returning id`;
    const [task] = await db.sql`insert into codex_kb.tasks (idea_id, key, stage, title, repository) values (${idea!.id}, 'k', 'implementation', 't', 'a/b') returning id`;
    expect(await moveTask(db.sql, task!.id, 'pending', 'ready')).toBe(true);
    expect(await moveTask(db.sql, task!.id, 'pending', 'ready')).toBe(false); // already moved: nothing overwritten
    await expect(moveTask(db.sql, task!.id, 'ready' as TaskState, 'succeeded')).rejects.toThrow(/cannot move from ready to succeeded/);
    expect(await moveIdea(db.sql, idea!.id, 'registered', 'planning')).toBe(true);
    expect(await moveIdea(db.sql, idea!.id, ['registered'], 'cancelled')).toBe(false);
    // "done" is never written over "cancelled"
    expect(await moveIdea(db.sql, idea!.id, 'planning', 'cancelled')).toBe(true);
    await expect(db.sql`update codex_kb.ideas set status = 'completed' where id = ${idea!.id}`).rejects.toMatchObject({ code: PgCode.CHECK_VIOLATION });
  });
});
