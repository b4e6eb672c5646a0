// The order the scheduler claims ready tasks in, on real PostgreSQL: priority first
// (urgent, high, normal, low), then age (oldest first), round-robin across repositories at
// equal priority, and a repository (or an idea) at its limit never holds back the others.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import type { Sql } from '../../shared/db/index.js';
import { schedule } from '../../shared/scheduler/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

type Priority = 'urgent' | 'high' | 'normal' | 'low';
const RANK: Record<Priority, number> = { urgent: 3, high: 2, normal: 1, low: 0 };

/** A ready task: `key` names it in the expectations; `age` in seconds (older first). */
interface Spec {
  key: string;
  repo: string;
  priority?: Priority;
  age: number;
  /** Tasks with the same idea share one; by default each task has an idea of its own. */
  idea?: string;
  stage?: 'implementation' | 'review';
}

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});

let round = 0;
/** A fresh world per case: earlier cases' tasks and runs are gone. */
async function seed(sql: Sql, specs: readonly Spec[]): Promise<Map<string, string>> {
  round++;
  await sql`truncate codex_kb.ideas cascade`;
  const ideas = new Map<string, string>();
  const keyOf = new Map<string, string>();
  for (const s of specs) {
    const ideaKey = s.idea ?? s.key;
    let ideaId = ideas.get(ideaKey);
    if (!ideaId) {
      const [idea] = await sql<{ id: string }[]>`
        insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status, priority)
        values ('api', ${`order-${round}-${ideaKey}`}, ${ideaKey}, ${'acme/' + s.repo}, '{}', 'running_tasks', ${s.priority ?? 'normal'})
        returning id`;
      ideaId = idea!.id;
      ideas.set(ideaKey, ideaId);
    }
    const [task] = await sql<{ id: string }[]>`
      insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, priority_rank, created_at)
      values (${ideaId}, ${s.key}, ${s.stage ?? 'implementation'}, 'ready', ${s.key}, ${'acme/' + s.repo}, ${RANK[s.priority ?? 'normal']},
              now() - make_interval(secs => ${s.age}))
      returning id`;
    keyOf.set(task!.id, s.key);
  }
  return keyOf;
}

const roomy = { FACTEUR_LIMIT_GLOBAL: '100', FACTEUR_LIMIT_STAGES: 'implementation=100,review=100', FACTEUR_LIMIT_REPOSITORY: '100', FACTEUR_LIMIT_IDEA: '100' };

/** `n` tasks `<repo><1..n>` in `repo`, the first the oldest, ages counting down from `from`. */
const many = (repo: string, n: number, from: number, priority?: Priority): Spec[] =>
  Array.from({ length: n }, (_, i) => ({ key: `${repo}${i + 1}`, repo, age: from - i, ...(priority ? { priority } : {}) }));

const cases: { name: string; env?: Record<string, string>; specs: Spec[]; rounds: number[]; claims: string[][] }[] = [
  {
    name: 'urgent before high before normal before low, whatever their age',
    specs: [
      { key: 'low', repo: 'a', priority: 'low', age: 400 },
      { key: 'normal', repo: 'a', priority: 'normal', age: 300 },
      { key: 'high', repo: 'a', priority: 'high', age: 200 },
      { key: 'urgent', repo: 'a', priority: 'urgent', age: 100 },
    ],
    rounds: [10],
    claims: [['urgent', 'high', 'normal', 'low']],
  },
  {
    name: 'equal priority: oldest first, whatever the order they were written in',
    specs: [
      { key: 't2', repo: 'a', age: 20 },
      { key: 't4', repo: 'a', age: 5 },
      { key: 't1', repo: 'a', age: 30 },
      { key: 't3', repo: 'a', age: 10 },
    ],
    rounds: [10],
    claims: [['t1', 't2', 't3', 't4']],
  },
  {
    name: 'priority before age and before the round-robin across repositories',
    specs: [
      { key: 'a-normal-old', repo: 'a', age: 900 },
      { key: 'b-low-old', repo: 'b', priority: 'low', age: 950 },
      { key: 'c-urgent-new', repo: 'c', priority: 'urgent', age: 1 },
      { key: 'b-high', repo: 'b', priority: 'high', age: 50 },
      { key: 'a-high', repo: 'a', priority: 'high', age: 40 },
      { key: 'a-normal-new', repo: 'a', age: 2 },
    ],
    rounds: [10],
    claims: [['c-urgent-new', 'b-high', 'a-high', 'a-normal-old', 'a-normal-new', 'b-low-old']],
  },
  {
    name: 'equal priority, N per round: the claims interleave A, B, C, A, B, C — not all of A first',
    // every task of A is older than every task of B, which are older than C's
    specs: [...many('A', 4, 300), ...many('B', 4, 200), ...many('C', 4, 100)],
    rounds: [6, 6],
    claims: [
      ['A1', 'B1', 'C1', 'A2', 'B2', 'C2'],
      ['A3', 'B3', 'C3', 'A4', 'B4', 'C4'],
    ],
  },
  {
    name: 'round-robin goes by each repository\'s oldest task, and a repository that runs out drops out of the turn',
    specs: [...many('B', 1, 250), ...many('C', 3, 200), ...many('A', 3, 300)],
    rounds: [3, 10],
    claims: [['A1', 'B1', 'C1'], ['A2', 'C2', 'A3', 'C3']],
  },
  {
    name: 'a repository at its limit does not block the others: they keep their turns',
    env: { FACTEUR_LIMIT_REPOSITORY: '2' },
    specs: [...many('A', 6, 300), ...many('B', 3, 200), ...many('C', 3, 100)],
    rounds: [10],
    claims: [['A1', 'B1', 'C1', 'A2', 'B2', 'C2']],
  },
  {
    name: 'a repository at its limit with many more urgent tasks waiting does not hold back a normal task elsewhere',
    env: { FACTEUR_LIMIT_REPOSITORY: '2' },
    specs: [...many('A', 20, 300, 'urgent'), ...many('B', 1, 100)],
    rounds: [2, 2],
    claims: [['A1', 'A2'], ['B1']],
  },
  {
    name: 'an idea at its limit with many older tasks waiting does not hold back a newer idea in the same repository',
    env: { FACTEUR_LIMIT_IDEA: '2' },
    specs: [...many('X', 20, 300).map((s) => ({ ...s, repo: 'a', idea: 'x' })), { key: 'Y1', repo: 'a', idea: 'y', age: 100 }],
    rounds: [2, 2],
    claims: [['X1', 'X2'], ['Y1']],
  },
  {
    name: 'a stage at its limit with many older tasks waiting does not hold back another stage',
    env: { FACTEUR_LIMIT_STAGES: 'implementation=2,review=100' },
    specs: [...many('A', 20, 300), { key: 'R1', repo: 'A', stage: 'review', age: 100 }],
    rounds: [2, 2],
    claims: [['A1', 'A2'], ['R1']],
  },
];

describe('claim order', () => {
  it.each(cases)('$name', async ({ env, specs, rounds, claims }) => {
    const keyOf = await seed(db.sql, specs);
    const config = loadConfig({ ...roomy, ...env });
    const got: string[][] = [];
    for (const max of rounds) got.push((await schedule({ sql: db.sql, config }, { max })).map((c) => keyOf.get(c.taskId)!));
    expect(got).toEqual(claims);
  });
});
