// Goal drift (`intent.drift`): the deterministic checks (a non-goal's terms, paths outside
// the constraints) and the similarity check as pure functions, then through the real policy
// engine over real PostgreSQL: a plan that pursues a non-goal is flagged (a warning when the
// pack leaves the rule out), an on-goal plan passes, `mode: enforce` holds the plan for a
// human, and an implementation run's change is judged at post-implementation.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { constraintScopes, findDrift, nonGoalTerms, type DriftIntent } from '../../shared/intent/drift.js';
import { evaluateCheckpoint } from '../../shared/policy/index.js';
import { loadPolicyPacks } from '../../shared/policy/store.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { diffOf, unique, usePack } from '../policy/fixtures.js';

const INTENT: DriftIntent = {
  title: 'Dark mode for the dashboard',
  goal: 'Users can switch the dashboard to a dark theme; the chosen theme persists across reloads.',
  nonGoals: ['Rewrite the billing invoices export', 'Mobile application'],
  constraints: ['Only change files under src/ui/', 'Do not touch migrations/'],
  acceptanceCriteria: ['dashboard theme toggle works', 'contrast ratio at least 4.5'],
};
const ON_GOAL = { key: 'theme', text: 'Add a dark theme toggle to the dashboard header\nPersist the chosen theme in local storage so it survives reloads', paths: ['src/ui/theme'] };
const OFF_GOAL = { key: 'billing', text: 'Rewrite the billing invoices export\nStream invoices as CSV', paths: ['src/ui/billing'] };
const OPTS = { minSimilarity: 0.05 };

describe('drift checks (pure)', () => {
  it('a non-goal\'s distinctive terms are the words the goal does not use', () => {
    expect(nonGoalTerms(INTENT, 'Rewrite the billing invoices export')).toEqual(['billing', 'export', 'invoices', 'rewrite']);
    // every word of this one is the goal's too: it can never flag on-goal work
    expect(nonGoalTerms(INTENT, 'the dashboard theme')).toEqual([]);
  });

  it('constraints name allowed and forbidden paths', () => {
    expect(constraintScopes(INTENT.constraints)).toEqual({ allowed: ['src/ui/'], forbidden: ['migrations/'] });
    expect(constraintScopes(['Keep it simple', 'see https://example.com/a/b'])).toEqual({ allowed: [], forbidden: [] });
  });

  it('flags the non-goal, the paths, and the unrelated; leaves on-goal work alone', () => {
    expect(findDrift(INTENT, [ON_GOAL], OPTS)).toEqual([]);
    const [nonGoal] = findDrift(INTENT, [OFF_GOAL], OPTS);
    expect(nonGoal).toMatchObject({ key: 'billing', kind: 'non_goal', details: { terms: ['billing', 'export', 'invoices', 'rewrite'] } });
    const paths = findDrift(INTENT, [{ ...ON_GOAL, paths: ['src/api/theme.ts', 'migrations/0042.sql'] }], OPTS);
    expect(paths).toEqual([expect.objectContaining({ kind: 'constraint', details: expect.objectContaining({ outside: ['src/api/theme.ts', 'migrations/0042.sql'], forbidden: ['migrations/0042.sql'] }) })]);
    const far = findDrift(INTENT, [{ key: 'k', text: 'Upgrade the kafka broker client to version four and tune its partitions', paths: ['src/ui/x'] }], OPTS);
    expect(far).toEqual([expect.objectContaining({ kind: 'similarity' })]);
    expect((far[0]!.details.similarity as number)).toBeLessThan(0.05);
  });
});

describe('intent.drift through the policy engine', () => {
  let db: TestDb;
  const config = loadConfig({});
  beforeAll(async () => {
    db = await createTestDb();
    await loadPolicyPacks(db.sql, undefined);
  });

  async function idea(repository: string, tasks: typeof ON_GOAL[]): Promise<string> {
    const intent = { version: 'intent_v1', ...INTENT, successMetrics: ['toggle persists'] };
    const plan = { tasks: tasks.map((t) => ({ key: t.key, title: t.text.split('\n')[0], description: t.text.split('\n')[1] ?? '', paths: t.paths, risk: 'low' })) };
    const [i] = await db.sql`
      insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, intent, metadata)
      values ('api', ${unique('ref-')}, 't', ${repository}, '{}', ${db.sql.json(intent)}, ${db.sql.json({ plan })}) returning id`;
    return i!.id as string;
  }
  const drift = (ev: Awaited<ReturnType<typeof evaluateCheckpoint>>) => ev.findings.filter((f) => f.rule === 'intent.drift');

  it('a plan pursuing a non-goal is a warning by default; an on-goal plan passes', async () => {
    const bad = await evaluateCheckpoint(db.sql, { config }, { ideaId: await idea('acme/drift-a', [ON_GOAL, OFF_GOAL]), checkpoint: 'plan' });
    expect(drift(bad)).toEqual([expect.objectContaining({ result: 'warn', enforced: false, wouldBlock: true, mode: 'warn' })]);
    expect(drift(bad)[0]!.message).toMatch(/billing pursues the non-goal "Rewrite the billing invoices export"/);
    expect(drift(bad)[0]!.properties.drift).toEqual([expect.objectContaining({ task: 'billing', kind: 'non_goal' })]);
    expect(bad.decision).toBe('pass');
    const good = await evaluateCheckpoint(db.sql, { config }, { ideaId: await idea('acme/drift-a', [ON_GOAL]), checkpoint: 'plan' });
    expect(drift(good)).toEqual([expect.objectContaining({ result: 'pass', enforced: false, wouldBlock: false })]);
    const [stored] = await db.sql`select rule, result from codex_kb.policy_findings where evaluation_id = ${bad.evaluationId} and rule = 'intent.drift'`;
    expect(stored).toEqual({ rule: 'intent.drift', result: 'warn' });
  });

  it('enforce mode stops the plan for a human; off records nothing; strict alone does not enforce the default', async () => {
    await usePack(db.sql, 'acme/drift-e', '  intentDrift: { mode: enforce, severity: high }\n');
    const ev = await evaluateCheckpoint(db.sql, { config }, { ideaId: await idea('acme/drift-e', [OFF_GOAL]), checkpoint: 'plan' });
    expect(drift(ev)).toEqual([expect.objectContaining({ result: 'fail', enforced: true, approvable: true, severity: 'high' })]);
    expect(ev.decision).toBe('approval');
    expect(ev.reason).toMatch(/drifts from the intent/);
    const on = await evaluateCheckpoint(db.sql, { config }, { ideaId: await idea('acme/drift-e', [ON_GOAL]), checkpoint: 'plan' });
    expect(on.decision).toBe('pass');
    await usePack(db.sql, 'acme/drift-o', '  intentDrift: { mode: off }\n');
    expect(drift(await evaluateCheckpoint(db.sql, { config }, { ideaId: await idea('acme/drift-o', [OFF_GOAL]), checkpoint: 'plan' }))).toEqual([]);
    await usePack(db.sql, 'acme/drift-s', '  churn: { mode: warn }\n', 'strict: true\n');
    const strict = await evaluateCheckpoint(db.sql, { config }, { ideaId: await idea('acme/drift-s', [OFF_GOAL]), checkpoint: 'plan' });
    expect(drift(strict)).toEqual([expect.objectContaining({ result: 'warn', enforced: false })]);
    expect(strict.decision).toBe('pass');
  });

  it('post-implementation: a change outside the constraints, or saying it pursues a non-goal, drifts', async () => {
    const ideaId = await idea('acme/drift-p', [ON_GOAL]);
    const run = async (paths: string[], extra: Record<string, unknown>) => {
      const [t] = await db.sql`insert into codex_kb.tasks (idea_id, key, stage, state, title, description, repository, paths)
        values (${ideaId}, ${unique('theme-')}, 'implementation', 'succeeded', 'Dark theme toggle', 'Add the dashboard dark theme toggle', 'acme/drift-p', ${db.sql.json(['src/ui'])}) returning id`;
      const [r] = await db.sql`insert into codex_kb.task_runs (task_id, idea_id, attempt, status, completed_at) values (${t!.id}, ${ideaId}, 1, 'succeeded', now()) returning id`;
      await db.sql`insert into codex_kb.artifacts (idea_id, task_id, run_id, artifact_type, data) values (${ideaId}, ${t!.id}, ${r!.id}, 'diff-stats', ${db.sql.json({ ...diffOf(paths), ...extra } as never)})`;
      return evaluateCheckpoint(db.sql, { config }, { ideaId, checkpoint: 'post-implementation', taskId: t!.id as string, runId: r!.id as string });
    };
    expect(drift(await run(['src/ui/theme.css'], { title: 'Dark theme toggle' }))).toEqual([expect.objectContaining({ result: 'pass' })]);
    const outside = drift(await run(['src/ui/theme.css', 'migrations/0099_theme.sql'], {}));
    expect(outside).toEqual([expect.objectContaining({ result: 'warn' })]);
    expect(outside[0]!.properties.drift).toEqual([expect.objectContaining({ kind: 'constraint', forbidden: ['migrations/0099_theme.sql'] })]);
    const said = drift(await run(['src/ui/theme.css'], { title: 'Also rewrite the billing invoices export', summary: 'invoices now stream' }));
    expect(said[0]!.properties.drift).toEqual([expect.objectContaining({ kind: 'non_goal' })]);
  });
});

describe('intent_v1 gains the plan\'s open questions', () => {
  it('the accepted plan\'s openQuestions are in the intent, and the idea view shows them beside the toolchain hypotheses', async () => {
    const { startSystem, submitIdea, tick, WorkflowWatch, plan } = await import('../helpers/system.js');
    const sys = await startSystem();
    try {
      const { ideaId } = await submitIdea(sys, { id: 'open-questions' });
      await tick(sys);
      const watch = new WorkflowWatch(sys, ideaId);
      await (await watch.next()).run([{ kind: 'plan', data: { ...plan(['only']), openQuestions: ['Which palette does design want?'] } }]);
      const [row] = await sys.db.sql`select intent->'openQuestions' as q from codex_kb.ideas where id = ${ideaId}`;
      expect(row!.q).toEqual(['Which palette does design want?']);
      const view = await (await fetch(`${sys.urls.status}/v1/ideas/${ideaId}`)).json();
      expect(view.idea.openQuestions).toEqual(['Which palette does design want?']);
      expect(view.idea.toolchainHypotheses).toEqual([]);
      expect(view.idea.intent.openQuestions).toEqual(['Which palette does design want?']);
    } finally {
      await sys.close();
    }
  });
});
