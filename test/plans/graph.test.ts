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
