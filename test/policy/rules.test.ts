// Every rule, table-driven over its modes: a scenario that passes and one that fails (or
// cannot be evaluated), each judged under evaluate, warn, enforce and warn in a strict
// pack, through the real engine (evaluateCheckpoint) over real PostgreSQL, reading the
// `diff-stats` and `test-report` artifacts as facteur-agent reports them.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { evaluateCheckpoint, type Checkpoint, type CheckpointInput } from '../../shared/policy/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { diffOf, DIFF, implementationRun, insertIdea, pastDeploy, REPORT, reportOf, unique, usePack } from './fixtures.js';

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});
const config = loadConfig({});

interface Scenario {
  readonly rule: string;
  readonly name: string;
  /** The rule's YAML under `rules:`, with MODE where its mode goes. */
  readonly yaml: string;
  readonly setup: (repository: string) => Promise<CheckpointInput>;
  readonly expect: 'pass' | 'fail' | 'error';
  /** What an enforced failure decides. */
  readonly enforced?: 'approval' | 'block';
}

const at = (checkpoint: Checkpoint, ideaId: string, run?: { taskId: string; runId: string }): CheckpointInput =>
  ({ ideaId, checkpoint, ...(run ? { taskId: run.taskId, runId: run.runId } : {}) });

const SCENARIOS: Scenario[] = [
  { rule: 'autonomy', name: 'L1 at pre-merge', yaml: '  autonomy: { mode: MODE }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => at('pre-merge', await insertIdea(db.sql, { repository: repo, level: 'L1' })) },
  { rule: 'autonomy', name: 'L2 at pre-merge', yaml: '  autonomy: { mode: MODE }', expect: 'pass',
    setup: async (repo) => at('pre-merge', await insertIdea(db.sql, { repository: repo, level: 'L2' })) },
  { rule: 'autonomy', name: 'L0 at plan', yaml: '  autonomy: { mode: MODE }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => at('plan', await insertIdea(db.sql, { repository: repo, level: 'L0' })) },
  { rule: 'autonomy', name: 'L3 capped by maxLevel L2 at pre-deploy', yaml: '  autonomy: { mode: MODE, maxLevel: L2 }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => at('pre-deploy', await insertIdea(db.sql, { repository: repo, level: 'L3' })) },
  { rule: 'autonomy', name: 'L3 without success metrics runs at L1 (pre-merge)', yaml: '  autonomy: { mode: MODE }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => at('pre-merge', await insertIdea(db.sql, { repository: repo, level: 'L3', successMetrics: [] })) },
  { rule: 'autonomy', name: 'L3 with its preconditions at pre-deploy', yaml: '  autonomy: { mode: MODE }', expect: 'pass',
    setup: async (repo) => at('pre-deploy', await insertIdea(db.sql, { repository: repo, level: 'L3' })) },

  { rule: 'requiredChecks', name: 'src/** needs test and lint, only test ran', yaml: '  requiredChecks: { mode: MODE, paths: [{ glob: "src/**", checks: [test, lint] }] }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); return at('post-implementation', i, await implementationRun(db.sql, i, { diff: DIFF, report: REPORT })); } },
  { rule: 'requiredChecks', name: 'lint failed', yaml: '  requiredChecks: { mode: MODE, paths: [{ glob: "src/**", checks: [lint] }] }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); return at('pre-merge', i, await implementationRun(db.sql, i, { diff: DIFF, report: reportOf({ test: true, lint: false }) })); } },
  { rule: 'requiredChecks', name: 'both passed', yaml: '  requiredChecks: { mode: MODE, paths: [{ glob: "src/**", checks: [test, lint] }] }', expect: 'pass',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); return at('post-implementation', i, await implementationRun(db.sql, i, { diff: DIFF, report: reportOf({ test: true, lint: true }) })); } },
  { rule: 'requiredChecks', name: 'no test-report reported', yaml: '  requiredChecks: { mode: MODE, paths: [{ glob: "src/**", checks: [test] }] }', expect: 'error', enforced: 'approval',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); return at('post-implementation', i, await implementationRun(db.sql, i, { diff: DIFF })); } },

  { rule: 'highRisk', name: 'a high-risk label at pre-merge', yaml: '  highRisk: { mode: MODE, labels: [security] }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => at('pre-merge', await insertIdea(db.sql, { repository: repo, labels: ['UI', 'Security'] })) },
  { rule: 'highRisk', name: 'a plan task with risk: high at pre-deploy', yaml: '  highRisk: { mode: MODE }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => at('pre-deploy', await insertIdea(db.sql, { repository: repo, planTasks: [{ key: 'a' }, { key: 'b', risk: 'high' }] })) },
  { rule: 'highRisk', name: 'a sensitive path changed', yaml: '  highRisk: { mode: MODE, sensitivePaths: ["migrations/**", ".github/**"] }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); await implementationRun(db.sql, i, { diff: diffOf(['src/a.ts', '.github/workflows/ci.yml']) }); return at('pre-merge', i); } },
  { rule: 'highRisk', name: 'nothing risky', yaml: '  highRisk: { mode: MODE, labels: [security], sensitivePaths: ["migrations/**"] }', expect: 'pass',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo, labels: ['ui'] }); await implementationRun(db.sql, i, { diff: DIFF }); return at('pre-merge', i); } },

  { rule: 'churn', name: '34 lines over a 20-line task limit', yaml: '  churn: { mode: MODE, maxLinesPerTask: 20 }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); return at('post-implementation', i, await implementationRun(db.sql, i, { diff: DIFF })); } },
  { rule: 'churn', name: 'two tasks over a 50-line idea limit', yaml: '  churn: { mode: MODE, maxLinesPerTask: 40, maxLinesPerIdea: 50 }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); await implementationRun(db.sql, i, { diff: DIFF }); await implementationRun(db.sql, i, { diff: DIFF }); return at('pre-merge', i); } },
  { rule: 'churn', name: 'within limits', yaml: '  churn: { mode: MODE, maxLinesPerTask: 40, maxLinesPerIdea: 100 }', expect: 'pass',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); return at('post-implementation', i, await implementationRun(db.sql, i, { diff: DIFF })); } },
  { rule: 'churn', name: 'a malformed diff-stats', yaml: '  churn: { mode: MODE, maxLinesPerTask: 40 }', expect: 'error', enforced: 'approval',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); return at('post-implementation', i, await implementationRun(db.sql, i, { diff: { ...DIFF, added: 'many' } })); } },

  { rule: 'pathScope', name: 'a change outside the task\'s paths', yaml: '  pathScope: { mode: MODE }', expect: 'fail', enforced: 'block',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); return at('post-implementation', i, await implementationRun(db.sql, i, { paths: ['src'], diff: DIFF })); } },
  { rule: 'pathScope', name: 'outside, but allowed', yaml: '  pathScope: { mode: MODE, allow: ["test/**"] }', expect: 'pass',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); return at('post-implementation', i, await implementationRun(db.sql, i, { paths: ['src/feature.js'], diff: DIFF })); } },
  { rule: 'pathScope', name: 'a rename out of scope counts its old path', yaml: '  pathScope: { mode: MODE }', expect: 'fail', enforced: 'block',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); return at('pre-merge', i, await implementationRun(db.sql, i, { paths: ['src/**'], diff: { ...DIFF, files: [{ path: 'src/x.js', oldPath: 'lib/x.js', added: 0, removed: 0, status: 'renamed' }] } })); } },
  { rule: 'pathScope', name: 'no diff-stats', yaml: '  pathScope: { mode: MODE }', expect: 'error', enforced: 'block',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); return at('post-implementation', i, await implementationRun(db.sql, i, {})); } },

  { rule: 'changeBudget', name: 'one deploy a day, one done', yaml: '  changeBudget: { mode: MODE, deploysPerDay: 1, afterRegression: none }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => { await pastDeploy(db.sql, repo, { hoursAgo: 2 }); return at('pre-deploy', await insertIdea(db.sql, { repository: repo })); } },
  { rule: 'changeBudget', name: 'three a week, three done', yaml: '  changeBudget: { mode: MODE, deploysPerDay: 5, deploysPerWeek: 3, afterRegression: none }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => { for (const h of [30, 60, 90]) await pastDeploy(db.sql, repo, { hoursAgo: h }); return at('pre-deploy', await insertIdea(db.sql, { repository: repo })); } },
  { rule: 'changeBudget', name: 'the last deploy regressed', yaml: '  changeBudget: { mode: MODE }', expect: 'fail', enforced: 'approval',
    setup: async (repo) => { await pastDeploy(db.sql, repo, { hoursAgo: 50, regressed: true }); return at('pre-deploy', await insertIdea(db.sql, { repository: repo })); } },
  { rule: 'changeBudget', name: 'within budget, an older regression fixed by a later deploy', yaml: '  changeBudget: { mode: MODE, deploysPerDay: 2 }', expect: 'pass',
    setup: async (repo) => { await pastDeploy(db.sql, repo, { hoursAgo: 50, regressed: true }); await pastDeploy(db.sql, repo, { hoursAgo: 30 }); await pastDeploy(db.sql, repo, { hoursAgo: 48 * 8 }); return at('pre-deploy', await insertIdea(db.sql, { repository: repo })); } },

  { rule: 'budgets', name: 'the idea spent $2 of its $1', yaml: '  budgets: { mode: MODE, perIdea: { maxCostUsd: 1 } }', expect: 'fail', enforced: 'block',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); await spend(i, 2); return at('pre-merge', i); } },
  { rule: 'budgets', name: "the Idea Spec's own budget, lower than the pack's", yaml: '  budgets: { mode: MODE, perIdea: { maxCostUsd: 100 } }', expect: 'fail', enforced: 'block',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); await db.sql`update codex_kb.ideas set budget = '{"maxCostUsd": 1.5}' where id = ${i}`; await spend(i, 2); return at('pre-deploy', i); } },
  { rule: 'budgets', name: '$0.50 of $1', yaml: '  budgets: { mode: MODE, perIdea: { maxCostUsd: 1 } }', expect: 'pass',
    setup: async (repo) => { const i = await insertIdea(db.sql, { repository: repo }); await spend(i, 0.5); return at('pre-merge', i); } },
];

/** A finished implementation run of the idea that reported `usd`. */
async function spend(ideaId: string, usd: number): Promise<void> {
  const { runId } = await implementationRun(db.sql, ideaId, { diff: DIFF });
  await db.sql`update codex_kb.task_runs set cost_usd = ${usd} where id = ${runId}`;
}

const MODES = [
  { mode: 'evaluate', strict: false, result: 'fail', enforced: false },
  { mode: 'warn', strict: false, result: 'warn', enforced: false },
  { mode: 'enforce', strict: false, result: 'fail', enforced: true },
  { mode: 'warn', strict: true, result: 'fail', enforced: true },
] as const;

const cases = SCENARIOS.flatMap((s) => MODES.map((m) => ({ ...s, m, title: `${s.rule}: ${s.name} — ${m.mode}${m.strict ? ' (strict)' : ''} → ${s.expect}` })));

describe('rules at their checkpoints', () => {
  it.each(cases)('$title', async ({ rule, yaml, setup, expect: want, enforced, m }) => {
    const repo = `acme/${unique('r')}`;
    await usePack(db.sql, repo, yaml.replace('MODE', m.mode), m.strict ? 'strict: true\n' : '');
    const input = await setup(repo);
    const ev = await evaluateCheckpoint(db.sql, { config }, input);
    const mine = ev.findings.filter((f) => f.rule === rule);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((f) => f.scope.checkpoint === input.checkpoint && f.policy.endsWith('@1'))).toBe(true);
    if (want === 'pass') {
      expect(mine.map((f) => f.result)).toContain('pass');
      expect(mine.filter((f) => !['pass', 'skip'].includes(f.result))).toEqual([]);
      expect(ev.decision).toBe('pass');
      return;
    }
    const failed = mine.filter((f) => !['pass', 'skip'].includes(f.result) && !(f.rule === 'autonomy' && f.wouldBlock === false && !f.enforced && f.message.includes('is not granted')));
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) {
      expect(f.result).toBe(want === 'error' ? 'error' : m.result);
      expect(f.enforced).toBe(m.enforced);
      expect(f.wouldBlock).toBe(!m.enforced);
    }
    expect(ev.decision).toBe(m.enforced ? enforced : 'pass');
    if (m.enforced) expect(ev.reason).toContain(failed[0]!.message);
  });
});

describe('autonomy preconditions', () => {
  it('an idea asking for L3 without acceptance criteria runs at L1, with an advisory finding at plan that says why', async () => {
    const repo = `acme/${unique('r')}`;
    await usePack(db.sql, repo, '  autonomy: { mode: enforce }');
    const ideaId = await insertIdea(db.sql, { repository: repo, level: 'L3', acceptanceCriteria: [] });
    const plan = await evaluateCheckpoint(db.sql, { config }, { ideaId, checkpoint: 'plan' });
    const advisory = plan.findings.find((f) => f.message.includes('is not granted'))!;
    expect(advisory).toMatchObject({ result: 'warn', enforced: false, wouldBlock: false, properties: { requested: 'L3', granted: 'L1', capped: ['the idea has no acceptance criteria'] } });
    expect(plan.decision).toBe('pass'); // L1 implements without a human
    const merge = await evaluateCheckpoint(db.sql, { config }, { ideaId, checkpoint: 'pre-merge' });
    expect(merge.findings.find((f) => f.rule === 'autonomy')!.message).toBe('autonomy level L1 (capped from L3) does not allow the merge (pre-merge) without a human');
    expect(merge.decision).toBe('approval');
  });

  it('no monitoring thresholds configured caps at L1; a pass names the level and the policy hash', async () => {
    const repo = `acme/${unique('r')}`;
    await usePack(db.sql, repo, '  autonomy: { mode: enforce }');
    const ideaId = await insertIdea(db.sql, { repository: repo, level: 'L2' });
    const noThresholds = { lifecycle: { ...config.lifecycle, monitorThresholds: {} } };
    expect((await evaluateCheckpoint(db.sql, { config: noThresholds }, { ideaId, checkpoint: 'pre-merge' })).decision).toBe('approval');
    const ok = await evaluateCheckpoint(db.sql, { config }, { ideaId, checkpoint: 'pre-merge' });
    expect(ok.decision).toBe('pass');
    expect(ok.findings.find((f) => f.rule === 'autonomy')).toMatchObject({ result: 'pass', properties: { granted: 'L2', policyHash: ok.hash } });
    const [audit] = await db.sql`select details from codex_kb.audit_log where idea_id = ${ideaId} and action = 'policy.evaluated' order by id desc limit 1`;
    expect(audit!.details).toMatchObject({ checkpoint: 'pre-merge', effectivePolicyHash: ok.hash, decision: 'pass', autonomy: { requested: 'L2', granted: 'L2' } });
  });
});

describe('the repo-local file at plan', () => {
  const policyArtifact = async (ideaId: string, data: unknown) => {
    await db.sql`insert into codex_kb.artifacts (idea_id, artifact_type, data) values (${ideaId}, 'policy', ${db.sql.json(data as never)})`;
  };
  const digest = `sha256:${'c'.repeat(64)}`;

  it.each([
    { strict: false, result: 'warn', decision: 'pass' },
    { strict: true, result: 'fail', decision: 'approval' },
  ] as const)('a loosening the pack does not allow is refused and said (strict: $strict → $decision)', async ({ strict, result, decision }) => {
    const repo = `acme/${unique('r')}`;
    await usePack(db.sql, repo, '  churn: { mode: enforce, maxLinesPerTask: 100 }\n', strict ? 'strict: true\n' : '');
    const ideaId = await insertIdea(db.sql, { repository: repo });
    await policyArtifact(ideaId, { path: '.facteur/policy.yml', digest, document: { schemaVersion: 1, rules: { churn: { maxLinesPerTask: 1000, maxLinesPerIdea: 500 } } } });
    const ev = await evaluateCheckpoint(db.sql, { config }, { ideaId, checkpoint: 'plan' });
    const f = ev.findings.find((x) => x.rule === 'repoLocal')!;
    expect(f).toMatchObject({ result, properties: { digest, applied: ['rules.churn.maxLinesPerIdea'], refused: [expect.objectContaining({ path: 'rules.churn.maxLinesPerTask' })] } });
    expect(f.message).toContain('refused: rules.churn.maxLinesPerTask');
    expect(ev.decision).toBe(decision);
    // the tightening was taken: the effective policy has it
    expect(ev.policy.document.rules.churn).toMatchObject({ maxLinesPerTask: 100, maxLinesPerIdea: 500 });
  });

  it('an invalid file is a finding naming its problems, and is ignored', async () => {
    const repo = `acme/${unique('r')}`;
    await usePack(db.sql, repo, '  autonomy: { mode: warn }\n');
    const ideaId = await insertIdea(db.sql, { repository: repo, level: 'L2' });
    await policyArtifact(ideaId, { path: '.facteur/policy.yml', digest, error: { message: 'invalid', issues: [{ path: 'rules.lunch', message: 'line 4, column 3: unknown rule' }] } });
    const ev = await evaluateCheckpoint(db.sql, { config }, { ideaId, checkpoint: 'plan' });
    expect(ev.findings.find((x) => x.rule === 'repoLocal')).toMatchObject({ result: 'warn', message: expect.stringContaining('rules.lunch: line 4, column 3: unknown rule') });
    expect(ev.findings.find((x) => x.rule === 'autonomy')!.result).toBe('pass');
  });
});
