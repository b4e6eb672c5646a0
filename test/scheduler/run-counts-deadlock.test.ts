// The active-run counters (codex_kb.run_counts, migrations 0022 and 0024) are locked in one
// order by every transaction: a run's start increments them sorted, and a run's end — at its
// transaction's commit — decrements them sorted too. Driven here into the interleaving that
// deadlocked when the end's one UPDATE locked them in its scan's order: a third session holds
// `global`; a run starts (waits for `global`); another run ends, its commit scanning the
// counters sequentially with `global` stored last (waits for `global`, holding the others
// unless it goes in order); the holder lets go. Real sessions on real connections.
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../shared/db/index.js';
import { createTestDb } from '../helpers/db.js';

const db = await createTestDb();
const pools: ReturnType<typeof connect>[] = [];
const session = () => {
  const p = connect(db.url, { max: 1 });
  pools.push(p);
  return p;
};
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
});

async function waitingOnLock(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [row] = await db.sql<{ wait: string | null }[]>`select wait_event_type as wait from pg_stat_activity where pid = ${pid}`;
    if (row?.wait === 'Lock') return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`backend ${pid} never waited on a lock`);
}

describe('the active-run counters', () => {
  it('a run starting and a run ending at once never deadlock on them, whatever order the rows are stored in', async () => {
    const [idea] = await db.sql<{ id: string }[]>`
      insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status)
      values ('api', 'counters-deadlock', 'D', 'acme/counters', '{}', 'running_tasks') returning id`;
    const tasks = await db.sql<{ id: string }[]>`
      insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, attempts)
      select ${idea!.id}, k, 'implementation', 'running', k, 'acme/counters', 1 from unnest(array['a', 'b']) k returning id`;
    const [ending] = await db.sql<{ id: string }[]>`
      insert into codex_kb.task_runs (task_id, idea_id, attempt, status, external_run_id, stage, repository)
      values (${tasks[0]!.id}, ${idea!.id}, 1, 'running', 'wf-counters-a', 'implementation', 'acme/counters') returning id`;
    // `global` stored after the other two scopes (a sequential scan meets it last)
    await db.sql`
      with g as (delete from codex_kb.run_counts where scope = 'global' returning n)
      insert into codex_kb.run_counts (scope, n) select 'global', n from g`;

    const holder = session();
    const starter = session();
    const ender = session();
    const pid = async (s: ReturnType<typeof connect>) => (await s<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
    const [starterPid, enderPid] = [await pid(starter), await pid(ender)];

    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let held!: () => void;
    const isHeld = new Promise<void>((r) => (held = r));
    const holding = holder.begin(async (tx) => {
      await tx`select n from codex_kb.run_counts where scope = 'global' for update`;
      held();
      await released;
    });
    await isHeld;

    // a run starts: its insert takes the counters sorted, `global` first, and waits there
    const starting = starter.begin(async (tx) => {
      await tx`
        insert into codex_kb.task_runs (task_id, idea_id, attempt, status, external_run_id, stage, repository)
        values (${tasks[1]!.id}, ${idea!.id}, 1, 'submitting', 'wf-counters-b', 'implementation', 'acme/counters')`;
    }).then(() => 'committed', (err: { code?: string }) => err.code ?? String(err));
    await waitingOnLock(starterPid);

    // a run ends: its counters move at commit, read by a sequential scan (stored order)
    const ending_ = ender.begin(async (tx) => {
      await tx`set local enable_indexscan = off`;
      await tx`set local enable_bitmapscan = off`;
      await tx`update codex_kb.task_runs set status = 'succeeded', completed_at = now() where id = ${ending!.id}`;
    }).then(() => 'committed', (err: { code?: string }) => err.code ?? String(err));
    await waitingOnLock(enderPid);

    release();
    await holding;
    expect({ start: await starting, end: await ending_ }).toEqual({ start: 'committed', end: 'committed' });
    const counts = await db.sql<{ scope: string; n: number }[]>`select scope, n from codex_kb.run_counts order by scope`;
    expect(counts.map((c) => [c.scope, c.n])).toEqual([['global', 1], ['repo:acme/counters', 1], ['stage:implementation', 1]]);
  }, 30_000);
});
