/** A dependency graph: service name → names it depends on. */
export type DependencyGraph = Readonly<Record<string, readonly string[]>>;

/**
 * Finds dependency cycles. Each cycle is returned once, as the path that
 * closes it: `['a', 'b', 'a']`. Edges to unknown nodes are ignored.
 */
export function findCycles(graph: DependencyGraph): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of graph[node] ?? []) {
      if (!(next in graph)) continue;
      const seen = state.get(next);
      if (seen === 'visiting') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (seen === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of Object.keys(graph)) if (!state.has(node)) visit(node);
  return cycles;
}

/**
 * Groups the nodes by level: level 0 has no dependencies, level n depends
 * only on levels below n. Within a level, nodes keep the graph's key order.
 * The graph must be acyclic (check with {@link findCycles} first).
 */
export function dependencyLevels(graph: DependencyGraph): string[][] {
  const level = new Map<string, number>();
  const depth = (node: string): number => {
    const known = level.get(node);
    if (known !== undefined) return known;
    level.set(node, 0); // guards against cycles: they never recurse forever
    const deps = (graph[node] ?? []).filter((d) => d in graph);
    const value = deps.length === 0 ? 0 : 1 + Math.max(...deps.map(depth));
    level.set(node, value);
    return value;
  };
  const levels: string[][] = [];
  for (const node of Object.keys(graph)) {
    const n = depth(node);
    while (levels.length <= n) levels.push([]);
    levels[n]?.push(node);
  }
  return levels;
}

/** The given nodes plus everything they depend on, transitively, in graph key order. */
export function withDependencies(graph: DependencyGraph, nodes: readonly string[]): string[] {
  const wanted = new Set<string>();
  const add = (node: string): void => {
    if (wanted.has(node)) return;
    wanted.add(node);
    for (const dep of graph[node] ?? []) add(dep);
  };
  for (const node of nodes) add(node);
  return Object.keys(graph).filter((n) => wanted.has(n));
}

/** The given nodes plus everything that depends on them, transitively, in graph key order. */
export function withDependents(graph: DependencyGraph, nodes: readonly string[]): string[] {
  const wanted = new Set(nodes);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [node, deps] of Object.entries(graph)) {
      if (!wanted.has(node) && deps.some((d) => wanted.has(d))) {
        wanted.add(node);
        grew = true;
      }
    }
  }
  return Object.keys(graph).filter((n) => wanted.has(n));
}
