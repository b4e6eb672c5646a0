// Resolving an idea's policy asks, in the same read, which of the effective policies this
// process resolved last are stored (shared/policy/store.ts): the usual completion costs one
// statement, not two. The process's list is only a hint: what the database says decides.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../shared/db/index.js';
import { transaction } from '../../shared/db/index.js';
import { policyForIdea } from '../../shared/policy/store.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

let db: TestDb;
let counted: Sql;
const statements: string[] = [];

beforeAll(async () => {
  db = await createTestDb();
  // a client of its own that says every statement it sends
  counted = postgres(db.url, { max: 1, onnotice: () => {}, debug: (_c, query) => void statements.push(query) }) as unknown as Sql;
});
afterAll(async () => {
  await counted.end();
});

async function idea(repository: string): Promise<string> {
  const [row] = await db.sql<{ id: string }[]>`
    insert into codex_kb.ideas (source_type, source_ref, title, repository, payload)
    values ('api', ${'hint-' + Math.random()}, 'Hint', ${repository}, '{}') returning id`;
  return row!.id;
}

const storedRows = async (hash: string) => (await db.sql`select 1 from codex_kb.effective_policies where hash = ${hash}`).length;

describe('the stored-policy hint', () => {
  it('resolves a stored policy in one statement', async () => {
    const id = await idea('acme/hint-one');
    const first = await policyForIdea(counted, id); // stores it (or finds it stored)
    expect(await storedRows(first.hash)).toBe(1);
    statements.length = 0;
    const again = await policyForIdea(counted, id);
    expect(again.hash).toBe(first.hash);
    expect(statements).toHaveLength(1);
  });

  it('stores a policy whose insert rolled back, though this process resolved it', async () => {
    // a repository whose overrides no other test uses: a hash of its own
    await db.sql`insert into codex_kb.repository_policies (repository, pack_key, overrides, repo_local, updated_by)
                 values ('acme/hint-rollback', 'default', ${db.sql.json({ rules: { churn: { maxLinesPerTask: 321 } } } as never)}, false, 'test')`;
    const id = await idea('acme/hint-rollback');
    let hash = '';
    await expect(transaction(db.sql, [], async (tx) => {
      hash = (await policyForIdea(tx, id)).hash;
      throw new Error('roll back');
    })).rejects.toThrow('roll back');
    expect(await storedRows(hash)).toBe(0);
    // the hash is among this process's recent ones; the database says it is not stored
    expect((await policyForIdea(counted, id)).hash).toBe(hash);
    expect(await storedRows(hash)).toBe(1);
  });
});
