// The task graph: duplicate keys, dangling and self dependencies, cycles, and a
// deterministic topological order. Edges read "depends on": in `a → b`, a waits for b.
import { ValidationError, type Issue } from '../errors/index.js';

export interface GraphNode {
  readonly key: string;
  /** Position in the plan's `tasks` array (used in issue paths and to break ties). */
  readonly index: number;
  readonly dependsOn: readonly { readonly key: string }[];
}

/**
 * Every graph problem of the nodes, in plan order, then one cycle per strongly connected
 * component. `declared` are keys that exist even though their task is otherwise broken
 * (so a dependency on them is not also reported as unknown). `repeats`: also report a
 * dependency listed twice.
 */
export function graphIssues(
  nodes: readonly GraphNode[],
  declared: ReadonlySet<string> = new Set(),
  options: { repeats: boolean } = { repeats: true },
): Issue[] {
  const issues: Issue[] = [];
  const first = new Map<string, GraphNode>();
  for (const n of nodes) {
    const seen = first.get(n.key);
    if (seen) {
      issues.push({
        path: `tasks.${n.index}.key`,
        message: `duplicate task key "${n.key}" (tasks.${seen.index} and tasks.${n.index})`,
      });
    } else {
      first.set(n.key, n);
    }
  }
  for (const n of nodes) {
    const listed = new Set<string>();
    n.dependsOn.forEach((d, j) => {
      const path = `tasks.${n.index}.dependsOn.${j}`;
      if (d.key === n.key) issues.push({ path, message: `task "${n.key}" depends on itself` });
      else if (!first.has(d.key) && !declared.has(d.key)) {
        issues.push({ path, message: `task "${n.key}" depends on unknown task "${d.key}"` });
      }
      // Harmless for ordering, but a slip in the plan (or a contradiction: hard and soft at once).
      if (options.repeats && listed.has(d.key)) {
        issues.push({ path, message: `task "${n.key}" lists the dependency "${d.key}" more than once` });
      }
      listed.add(d.key);
    });
  }
  for (const c of findCycles(nodes)) {
    issues.push({ path: c.path, message: `cycle: ${c.keys.join(' → ')}` });
  }
  return issues;
}

export interface Cycle {
  /** The cycle in order, first key repeated at the end: [a, b, c, a]. */
  readonly keys: readonly string[];
  /** The dependency entry that starts it: `tasks.<i>.dependsOn.<j>`. */
  readonly path: string;
}

/**
 * One shortest cycle per strongly connected component, starting at its earliest task.
 * Listing every elementary cycle can take exponential time on a dense plan; one per
 * component is enough to say where to cut. Self dependencies are reported elsewhere.
 */
export function findCycles(nodes: readonly GraphNode[]): Cycle[] {
  const { byKey, edges } = adjacency(nodes);
  const cycles: Cycle[] = [];
  const starts = components([...byKey.values()], edges)
    .filter((scc) => scc.length > 1)
    .map((scc) => ({ members: new Set(scc), start: scc.reduce((a, b) => (b.index < a.index ? b : a)) }))
    .sort((a, b) => a.start.index - b.start.index);
  for (const { members, start } of starts) {
    // BFS in dependency-list order: the shortest way back to `start`, found the same way every time.
    const parent = new Map<GraphNode, GraphNode>();
    const queue: GraphNode[] = [start];
    let last: GraphNode | undefined;
    for (let head = 0; head < queue.length && !last; head++) {
      const at = queue[head]!;
      for (const next of edges.get(at) ?? []) {
        if (!members.has(next)) continue;
        if (next === start) {
          last = at;
          break;
        }
        if (!parent.has(next)) {
          parent.set(next, at);
          queue.push(next);
        }
      }
    }
    if (!last) continue; // unreachable for a component of two or more
    const chain: GraphNode[] = [last];
    while (chain[0] !== start) chain.unshift(parent.get(chain[0]!)!);
    const second = chain[1] ?? start;
    const j = start.dependsOn.findIndex((d) => d.key === second.key);
    cycles.push({ keys: [...chain.map((n) => n.key), start.key], path: `tasks.${start.index}.dependsOn.${j}` });
  }
  return cycles;
}

/**
 * Kahn's algorithm; among the tasks ready at each step the earliest in the plan goes
 * first, so the order is stable and reads like the plan. Throws on a cycle or an unknown
 * dependency, which `validatePlan` has already ruled out for a validated plan.
 */
export function topologicalOrder(plan: { readonly tasks: readonly { readonly key: string; readonly dependsOn: readonly { readonly key: string }[] }[] }): string[] {
  const nodes: GraphNode[] = plan.tasks.map((t, index) => ({ key: t.key, index, dependsOn: t.dependsOn }));
  const problems = graphIssues(nodes, new Set(), { repeats: false });
  if (problems.length > 0) throw invalidPlan(problems);
  const { byKey, edges } = adjacency(nodes);
  const waiting = new Map<GraphNode, number>();
  const dependents = new Map<GraphNode, GraphNode[]>();
  for (const n of byKey.values()) {
    const deps = edges.get(n) ?? [];
    waiting.set(n, deps.length);
    for (const d of deps) dependents.set(d, [...(dependents.get(d) ?? []), n]);
  }
  const ready = [...byKey.values()].filter((n) => waiting.get(n) === 0);
  const order: string[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a.index - b.index);
    const n = ready.shift()!;
    order.push(n.key);
    for (const m of dependents.get(n) ?? []) {
      const left = waiting.get(m)! - 1;
      waiting.set(m, left);
      if (left === 0) ready.push(m);
    }
  }
  return order;
}

/** The one error a rejected plan gives: every problem, each with its path. */
export function invalidPlan(issues: readonly Issue[]): ValidationError {
  return new ValidationError(`invalid plan: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues, 'invalid_plan');
}

/** First node per key, and each node's distinct, known, non-self dependencies in listed order. */
function adjacency(nodes: readonly GraphNode[]) {
  const byKey = new Map<string, GraphNode>();
  for (const n of nodes) if (!byKey.has(n.key)) byKey.set(n.key, n);
  const edges = new Map<GraphNode, GraphNode[]>();
  for (const n of byKey.values()) {
    const out: GraphNode[] = [];
    for (const d of n.dependsOn) {
      const target = byKey.get(d.key);
      if (target && target !== n && !out.includes(target)) out.push(target);
    }
    edges.set(n, out);
  }
  return { byKey, edges };
}

/** Tarjan's strongly connected components, iterative so a long chain cannot overflow the stack. */
function components(nodes: readonly GraphNode[], edges: ReadonlyMap<GraphNode, readonly GraphNode[]>): GraphNode[][] {
  const index = new Map<GraphNode, number>();
  const low = new Map<GraphNode, number>();
  const onStack = new Set<GraphNode>();
  const stack: GraphNode[] = [];
  const out: GraphNode[][] = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: GraphNode; next: number }[] = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const succ = edges.get(frame.node) ?? [];
      if (frame.next < succ.length) {
        const w = succ[frame.next++]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const scc: GraphNode[] = [];
        let w: GraphNode;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== frame.node);
        out.push(scc);
      }
    }
  }
  return out;
}
