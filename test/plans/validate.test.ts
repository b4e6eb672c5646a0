import { describe, expect, it } from 'vitest';
import { ValidationError, type Issue } from '../../shared/errors/index.js';
import { validatePlan } from '../../shared/plans/index.js';

// A valid plan; each rejection case below breaks one thing in a fresh copy.
function plan(): Record<string, any> {
  return {
    milestones: [{ id: 'M1', title: 'Foundation' }],
    tasks: [
      { key: 'schema', title: 'Create schema', acceptanceCriteria: ['migrates'], milestone: 'M1' },
      { key: 'api', title: 'Build API', dependsOn: ['schema'], acceptanceCriteria: ['serves'], paths: ['shared/api/'], risk: 'medium' },
      {
        key: 'docs',
        title: 'Write docs',
        description: '  For operators.  ',
        dependsOn: [{ key: 'api', type: 'soft' }, { key: 'schema', type: 'artifact', artifact: 'test-report' }],
        acceptanceCriteria: ['written'],
      },
    ],
    acceptanceCriteria: ['users can search'],
    risks: [{ description: 'Data loss', likelihood: 'low', impact: 'high', mitigation: 'backups' }],
    openQuestions: ['Which region?'],
  };
}

function rejection(input: unknown): ValidationError {
  try {
    validatePlan(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toBe('invalid_plan');
    return err as ValidationError;
  }
  throw new Error('expected the plan to be rejected');
}

const KEY_RULE = 'must start with a letter or digit, then letters, digits, ".", "_", ":" or "-" (at most 128 characters)';

const cases: { name: string; input: () => unknown; issues: Issue[] }[] = [
  { name: 'not an object', input: () => 'a plan', issues: [{ path: '(root)', message: 'a plan must be an object' }] },
  {
    name: 'no tasks field',
    input: () => ({ ...plan(), tasks: undefined }),
    issues: [{ path: 'tasks', message: 'the plan has no tasks' }],
  },
  { name: 'empty task list', input: () => ({ ...plan(), tasks: [] }), issues: [{ path: 'tasks', message: 'the plan has no tasks' }] },
  {
    name: 'duplicate keys',
    input: () => {
      const p = plan();
      p.tasks[2].key = 'schema';
      p.tasks[2].dependsOn = ['api'];
      return p;
    },
    issues: [{ path: 'tasks.2.key', message: 'duplicate task key "schema" (tasks.0 and tasks.2)' }],
  },
  {
    name: 'dependency on an unknown key',
    input: () => {
      const p = plan();
      p.tasks[1].dependsOn = ['schema', 'cache'];
      return p;
    },
    issues: [{ path: 'tasks.1.dependsOn.1', message: 'task "api" depends on unknown task "cache"' }],
  },
  {
    name: 'a task depending on itself',
    input: () => {
      const p = plan();
      p.tasks[0].dependsOn = ['schema'];
      return p;
    },
    issues: [{ path: 'tasks.0.dependsOn.0', message: 'task "schema" depends on itself' }],
  },
  {
    name: 'the same dependency twice',
    input: () => {
      const p = plan();
      p.tasks[1].dependsOn = ['schema', { key: 'schema', type: 'soft' }];
      return p;
    },
    issues: [{ path: 'tasks.1.dependsOn.1', message: 'task "api" lists the dependency "schema" more than once' }],
  },
  {
    name: 'a cycle of three, named in order',
    input: () => {
      const p = plan();
      p.tasks[0].dependsOn = ['docs'];
      p.tasks[2].dependsOn = ['api'];
      return p;
    },
    issues: [{ path: 'tasks.0.dependsOn.0', message: 'cycle: schema → docs → api → schema' }],
  },
  {
    name: 'one cycle per strongly connected component, shortest first',
    input: () => ({
      ...plan(),
      tasks: ['a', 'b', 'c', 'd', 'e'].map((key, i) => ({
        key,
        title: key,
        acceptanceCriteria: ['ok'],
        dependsOn: [['b'], ['c', 'a'], ['a'], ['e'], ['d']][i],
      })),
    }),
    issues: [
      { path: 'tasks.0.dependsOn.0', message: 'cycle: a → b → a' },
      { path: 'tasks.3.dependsOn.0', message: 'cycle: d → e → d' },
    ],
  },
  {
    name: 'a task without acceptance criteria (empty or missing)',
    input: () => {
      const p = plan();
      p.tasks[1].acceptanceCriteria = [];
      delete p.tasks[2].acceptanceCriteria;
      return p;
    },
    issues: [
      { path: 'tasks.1.acceptanceCriteria', message: 'task "api" has no acceptance criteria' },
      { path: 'tasks.2.acceptanceCriteria', message: 'task "docs" has no acceptance criteria' },
    ],
  },
  {
    name: 'no risk register (missing)',
    input: () => ({ ...plan(), risks: undefined }),
    issues: [{ path: 'risks', message: 'the plan has no risk register: list at least one risk' }],
  },
  {
    name: 'no risk register (empty)',
    input: () => ({ ...plan(), risks: [] }),
    issues: [{ path: 'risks', message: 'the plan has no risk register: list at least one risk' }],
  },
  {
    name: 'bad risk values',
    input: () => ({ ...plan(), risks: [{ id: 'R1', description: 'Outage', likelihood: 'huge', impact: 'high', mitigation: ' ' }, 'flood'] }),
    issues: [
      { path: 'risks.0.likelihood', message: 'must be one of low, medium, high' },
      { path: 'risks.0.mitigation', message: 'must not be empty' },
      { path: 'risks.1', message: 'a risk must be an object {id, description, likelihood, impact, mitigation}' },
    ],
  },
  {
    name: 'duplicate risk and milestone ids',
    input: () => ({
      ...plan(),
      milestones: [{ id: 'M1', title: 'a' }, { id: 'M1', title: 'b' }],
      risks: [plan().risks[0], { ...plan().risks[0], id: 'R1' }],
    }),
    issues: [
      { path: 'milestones.1.id', message: 'duplicate milestone id "M1" (milestones.0 and milestones.1)' },
      { path: 'risks.1.id', message: 'duplicate risk id "R1" (risks.0 and risks.1)' },
    ],
  },
  {
    name: 'a task key that cannot be a database or Kubernetes key',
    input: () => {
      const p = plan();
      p.tasks[2].key = '-docs';
      return p;
    },
    issues: [{ path: 'tasks.2.key', message: KEY_RULE }],
  },
  {
    name: 'bad dependency entries',
    input: () => {
      const p = plan();
      p.tasks[2].dependsOn = [
        { key: 'api', type: 'maybe' },
        { key: 'schema', type: 'artifact' },
        { key: 'schema', type: 'soft', artifact: 'review' },
        { key: 'api', type: 'artifact', artifact: 'coverage' },
        7,
      ];
      return p;
    },
    issues: [
      { path: 'tasks.2.dependsOn.0.type', message: 'must be one of hard, soft, approval, artifact' },
      { path: 'tasks.2.dependsOn.1.artifact', message: 'an artifact dependency must name the artifact kind' },
      { path: 'tasks.2.dependsOn.2.artifact', message: 'is only allowed on a dependency of type "artifact"' },
      { path: 'tasks.2.dependsOn.3.artifact', message: 'must be one of plan, review, integration, deploy, reflection, test-report, diff-stats, toolchain, prompt, policy' },
      { path: 'tasks.2.dependsOn.4', message: 'must be a task key or an object {key, type}' },
    ],
  },
  {
    name: 'bad task fields',
    input: () => {
      const p = plan();
      p.tasks[1] = { key: 'api', dependsOn: ['schema'], acceptanceCriteria: ['serves', ''], risk: 'extreme', milestone: 'M9' };
      return p;
    },
    issues: [
      { path: 'tasks.1.title', message: 'is required' },
      { path: 'tasks.1.acceptanceCriteria.1', message: 'must not be empty' },
      { path: 'tasks.1.risk', message: 'must be one of low, medium, high' },
      { path: 'tasks.1.milestone', message: 'task "api" names unknown milestone "M9"' },
    ],
  },
  {
    name: 'every problem at once, in plan order, graph checks included for broken tasks',
    input: () => {
      const p = plan();
      p.tasks[0].dependsOn = ['ghost'];
      p.tasks[1].risk = 'extreme';
      p.tasks[1].dependsOn = ['docs'];
      p.tasks[2].dependsOn = ['api'];
      p.tasks[2].acceptanceCriteria = [];
      delete p.risks;
      return p;
    },
    issues: [
      { path: 'tasks.0.dependsOn.0', message: 'task "schema" depends on unknown task "ghost"' },
      { path: 'tasks.1.risk', message: 'must be one of low, medium, high' },
      { path: 'tasks.1.dependsOn.0', message: 'cycle: api → docs → api' },
      { path: 'tasks.2.acceptanceCriteria', message: 'task "docs" has no acceptance criteria' },
      { path: 'risks', message: 'the plan has no risk register: list at least one risk' },
    ],
  },
];

describe('validatePlan rejects', () => {
  it.each(cases)('$name', ({ input, issues }) => {
    const err = rejection(input());
    expect(err.issues).toEqual(issues);
    for (const i of issues) expect(err.message).toContain(`${i.path}: ${i.message}`);
  });
});

describe('validatePlan accepts', () => {
  it('fills defaults, normalizes dependencies and freezes the result', () => {
    const input = plan();
    const before = JSON.stringify(input);
    const p = validatePlan(input);
    expect(p).toEqual({
      milestones: [{ id: 'M1', title: 'Foundation' }],
      tasks: [
        { key: 'schema', title: 'Create schema', description: '', dependsOn: [], acceptanceCriteria: ['migrates'], paths: [], risk: 'low', milestone: 'M1' },
        {
          key: 'api',
          title: 'Build API',
          description: '',
          dependsOn: [{ key: 'schema', type: 'hard' }],
          acceptanceCriteria: ['serves'],
          paths: ['shared/api/'],
          risk: 'medium',
        },
        {
          key: 'docs',
          title: 'Write docs',
          description: 'For operators.',
          dependsOn: [
            { key: 'api', type: 'soft' },
            { key: 'schema', type: 'artifact', artifact: 'test-report' },
          ],
          acceptanceCriteria: ['written'],
          paths: [],
          risk: 'low',
        },
      ],
      acceptanceCriteria: ['users can search'],
      risks: [{ id: 'R1', description: 'Data loss', likelihood: 'low', impact: 'high', mitigation: 'backups' }],
      openQuestions: ['Which region?'],
    });
    expect(JSON.stringify(input)).toBe(before);
    expect(Object.isFrozen(p) && Object.isFrozen(p.tasks) && Object.isFrozen(p.tasks[2]!.dependsOn[1])).toBe(true);
    expect(Object.isFrozen(p.risks[0])).toBe(true);
  });

  it('round-trips: a validated plan, serialized and validated again, is equal', () => {
    const once = validatePlan(plan());
    const twice = validatePlan(JSON.parse(JSON.stringify(once)));
    expect(twice).toEqual(once);
    expect(JSON.stringify(twice)).toBe(JSON.stringify(once));
  });

  it('ignores unknown fields and keeps open questions and milestones optional', () => {
    const p = validatePlan({ ...plan(), milestones: undefined, openQuestions: undefined, tasks: [{ ...plan().tasks[0], milestone: undefined, estimate: '2d' }] });
    expect(p.milestones).toEqual([]);
    expect(p.openQuestions).toEqual([]);
    expect(p.tasks[0]).not.toHaveProperty('estimate');
  });
});
