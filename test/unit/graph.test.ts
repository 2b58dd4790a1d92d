import { expect } from 'chai';
import {
  dependencyLevels,
  findCycles,
  withDependencies,
  withDependents,
} from '../../lib/config/graph.js';

describe('dependency graph', () => {
  const graph = { db: [], api: ['db'], worker: ['db'], web: ['api'], docs: [] };

  it('groups services by level, keeping declaration order within a level', () => {
    expect(dependencyLevels(graph)).to.deep.equal([['db', 'docs'], ['api', 'worker'], ['web']]);
  });

  it('puts a service one level above its deepest dependency', () => {
    expect(dependencyLevels({ a: ['b', 'c'], b: [], c: ['b'] })).to.deep.equal([
      ['b'],
      ['c'],
      ['a'],
    ]);
  });

  it('finds no cycle in an acyclic graph', () => {
    expect(findCycles(graph)).to.deep.equal([]);
  });

  it('finds a two-node cycle, a self-loop and a longer cycle, as closed paths', () => {
    expect(findCycles({ a: ['b'], b: ['a'] })).to.deep.equal([['a', 'b', 'a']]);
    expect(findCycles({ a: ['a'] })).to.deep.equal([['a', 'a']]);
    expect(findCycles({ x: [], a: ['b'], b: ['c'], c: ['a'] })).to.deep.equal([
      ['a', 'b', 'c', 'a'],
    ]);
  });

  it('ignores edges to unknown nodes', () => {
    expect(findCycles({ a: ['ghost'] })).to.deep.equal([]);
    expect(dependencyLevels({ a: ['ghost'] })).to.deep.equal([['a']]);
  });

  it('selects dependencies and dependents transitively', () => {
    expect(withDependencies(graph, ['web'])).to.deep.equal(['db', 'api', 'web']);
    expect(withDependents(graph, ['db'])).to.deep.equal(['db', 'api', 'worker', 'web']);
    expect(withDependents(graph, ['docs'])).to.deep.equal(['docs']);
  });
});
