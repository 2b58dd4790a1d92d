import { LaunchError } from '../errors.js';
import { withDependencies, withDependents } from './graph.js';
import { closest } from './suggest.js';
import type { ResolvedConfig } from './types.js';

/** The dependency graph of a resolved config: service → its dependencies. */
function graphOf(config: ResolvedConfig): Record<string, string[]> {
  return Object.fromEntries(
    Object.values(config.services).map((s) => [s.name, Object.keys(s.dependsOn)]),
  );
}

/** Throws E_USAGE for names that are not services of the config, with a suggestion. */
export function assertNames(config: ResolvedConfig, names: readonly string[]): void {
  const known = Object.keys(config.services);
  for (const name of names) {
    if (name in config.services) continue;
    const close = closest(name, known);
    throw new LaunchError('E_USAGE', `unknown service '${name}'`, {
      hint: `${close ? `did you mean '${close}'? ` : ''}services in ${config.file}: ${known.join(', ')}`,
    });
  }
}

/** Services to start for `names` (all when empty): the named ones and what they depend on. */
export function selectForStart(config: ResolvedConfig, names: readonly string[]): string[] {
  assertNames(config, names);
  if (names.length === 0) return Object.keys(config.services);
  return withDependencies(graphOf(config), names);
}

/** Services to stop for `names` (all when empty): the named ones and what depends on them. */
export function selectForStop(
  config: ResolvedConfig,
  names: readonly string[],
  noDeps = false,
): string[] {
  assertNames(config, names);
  if (names.length === 0) return Object.keys(config.services);
  return noDeps ? [...new Set(names)] : withDependents(graphOf(config), names);
}

/** `names` grouped by the config's dependency levels, in start order. */
export function levelsOf(config: ResolvedConfig, names: readonly string[]): string[][] {
  const wanted = new Set(names);
  return config.levels.map((level) => level.filter((n) => wanted.has(n))).filter((l) => l.length);
}

/** The tasks of each config, found once (a `down` of 500 services asks 500 times). */
const tasksOf = new WeakMap<ResolvedConfig, ReadonlySet<string>>();

/** True if `name` is a one-shot task: some service waits for it with `'completed'`. */
export function isTask(config: ResolvedConfig, name: string): boolean {
  let tasks = tasksOf.get(config);
  if (tasks === undefined) {
    tasks = new Set(
      Object.values(config.services).flatMap((s) =>
        Object.entries(s.dependsOn)
          .filter(([, condition]) => condition === 'completed')
          .map(([dep]) => dep),
      ),
    );
    tasksOf.set(config, tasks);
  }
  return tasks.has(name);
}
