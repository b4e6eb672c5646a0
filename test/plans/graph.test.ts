import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors/index.js';
import { findCycles, topologicalOrder, validatePlan } from '../../shared/plans/index.js';

type Spec = readonly (readonly [key: string, deps: readonly string[]])[];
const tasks = (spec: Spec) => spec.map(([key, deps]) => ({ key, dependsOn: deps.map((d) => ({ key: d })) }));

describe('topologicalOrder', () => {
  it.each<{ name: string; spec: Spec; order: string[] }>([
    { name: 'no dependencies keeps the plan order', spec: [['b', []], ['a', []], ['c', []]], order: ['b', 'a', 'c'] },
    { name: 'a chain written backwards', spec: [['c', ['b']], ['b', ['a']], ['a', []]], order: ['a', 'b', 'c'] },
    {
      name: 'ties go to the task earlier in the plan',
      spec: [['d', []], ['a', []], ['b', ['d']], ['c', ['a']]],
      order: ['d', 'a', 'b', 'c'],
    },
    {
      name: 'a diamond',
      spec: [['deploy', ['api', 'ui']], ['ui', ['schema']], ['api', ['schema']], ['schema', []]],
      order: ['schema', 'ui', 'api', 'deploy'],
    },
    { name: 'a repeated dependency counts once', spec: [['b', ['a', 'a']], ['a', []]], order: ['a', 'b'] },
  ])('$name', ({ spec, order }) => {
    expect(topologicalOrder({ tasks: tasks(spec) })).toEqual(order);
  });

  it('orders a validated plan, soft and artifact dependencies included', () => {
    const plan = validatePlan({
      tasks: [
        { key: 'report', title: 'Report', acceptanceCriteria: ['sent'], dependsOn: [{ key: 'test', type: 'artifact', artifact: 'test-report' }] },
        { key: 'test', title: 'Test', acceptanceCriteria: ['green'], dependsOn: [{ key: 'build', type: 'soft' }] },
        { key: 'build', title: 'Build', acceptanceCriteria: ['built'] },
      ],
      risks: [{ description: 'flaky', likelihood: 'low', impact: 'low', mitigation: 'retry' }],
    });
    expect(topologicalOrder(plan)).toEqual(['build', 'test', 'report']);
  });

  it('refuses a graph with a cycle, naming it', () => {
    let err: unknown;
    try {
      topologicalOrder({ tasks: tasks([['a', ['c']], ['b', ['a']], ['c', ['b']], ['d', []]]) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toEqual([{ path: 'tasks.0.dependsOn.0', message: 'cycle: a → c → b → a' }]);
  });
});

// The exact text a rejected plan carries for each shape of cycle: where it starts (the
// dependency entry to cut) and the cycle in order, from its earliest task back to it.
const cycleShapes: { name: string; spec: Spec; issues: { path: string; message: string }[] }[] = [
  {
    name: 'a self-loop',
    spec: [['a', ['a']], ['b', ['a']]],
    issues: [{ path: 'tasks.0.dependsOn.0', message: 'task "a" depends on itself' }],
  },
  {
    name: 'a 2-cycle',
    spec: [['a', ['b']], ['b', ['a']]],
    issues: [{ path: 'tasks.0.dependsOn.0', message: 'cycle: a → b → a' }],
  },
  {
    name: 'a 2-cycle written from its second task',
    spec: [['root', []], ['b', ['root', 'a']], ['a', ['b']]],
    issues: [{ path: 'tasks.1.dependsOn.1', message: 'cycle: b → a → b' }],
  },
  {
    name: 'a 3-cycle',
    spec: [['a', ['c']], ['b', ['a']], ['c', ['b']]],
    issues: [{ path: 'tasks.0.dependsOn.0', message: 'cycle: a → c → b → a' }],
  },
  {
    name: 'a cycle off a DAG branch (the acyclic part is not named)',
    // root ← left ← leaf is a DAG; x → z → y → x hangs off root
    spec: [['root', []], ['left', ['root']], ['leaf', ['left']], ['x', ['root', 'z']], ['y', ['x']], ['z', ['y', 'left']]],
    issues: [{ path: 'tasks.3.dependsOn.1', message: 'cycle: x → z → y → x' }],
  },
  {
    name: 'a cycle with a shortcut: the shortest way back is named',
    spec: [['a', ['b', 'd']], ['b', ['c']], ['c', ['d']], ['d', ['a']]],
    issues: [{ path: 'tasks.0.dependsOn.1', message: 'cycle: a → d → a' }],
  },
  {
    name: 'a self-loop inside a larger cycle: both named',
    spec: [['a', ['b']], ['b', ['b', 'a']]],
    issues: [
      { path: 'tasks.1.dependsOn.0', message: 'task "b" depends on itself' },
      { path: 'tasks.0.dependsOn.0', message: 'cycle: a → b → a' },
    ],
  },
  {
    name: 'two separate cycles, in plan order',
    spec: [['p', ['q']], ['q', ['p']], ['dag', ['p']], ['r', ['s']], ['s', ['t']], ['t', ['r']]],
    issues: [
      { path: 'tasks.0.dependsOn.0', message: 'cycle: p → q → p' },
      { path: 'tasks.3.dependsOn.0', message: 'cycle: r → s → t → r' },
    ],
  },
];

/** The ValidationError `fn` throws. */
function rejection(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a rejection');
}

describe('cycle text, shape by shape', () => {
  it.each(cycleShapes)('$name', ({ spec, issues }) => {
    const err = rejection(() => topologicalOrder({ tasks: tasks(spec) }));
    expect(err.issues).toEqual(issues);
    expect(err.message).toBe(`invalid plan: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    // validatePlan names the same problems in the same words, task by task in plan order
    const taskIndex = (i: { path: string }) => Number(i.path.split('.')[1]);
    const plan = {
      tasks: spec.map(([key, deps]) => ({ key, title: key, acceptanceCriteria: ['done'], dependsOn: [...deps] })),
      risks: [{ description: 'r', likelihood: 'low', impact: 'low', mitigation: 'm' }],
    };
    expect(rejection(() => validatePlan(plan)).issues).toEqual([...issues].sort((x, y) => taskIndex(x) - taskIndex(y)));
  });
});

describe('findCycles', () => {
  it('is deterministic and starts each cycle at its earliest task', () => {
    const nodes = tasks([['x', []], ['b', ['c']], ['c', ['a']], ['a', ['b', 'x']]]).map((t, index) => ({ ...t, index }));
    const first = findCycles(nodes);
    expect(first).toEqual([{ keys: ['b', 'c', 'a', 'b'], path: 'tasks.1.dependsOn.0' }]);
    expect(findCycles(nodes)).toEqual(first);
  });

  it('finds nothing in an acyclic graph and survives a long chain', () => {
    const spec: [string, string[]][] = Array.from({ length: 500 }, (_, i) => [`t${i}`, i === 0 ? [] : [`t${i - 1}`]]);
    const nodes = tasks(spec).map((t, index) => ({ ...t, index }));
    expect(findCycles(nodes)).toEqual([]);
    expect(topologicalOrder({ tasks: tasks(spec) })).toHaveLength(500);
  });
});
