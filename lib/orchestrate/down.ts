import type { ResolvedConfig } from '../config/types.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { findMarked } from '../process/sweep.js';
import { stackId } from '../state/marker.js';
import { checkStateDir } from '../state/trust.js';
import { levelsOf, selectForStop } from './select.js';
import { type ServiceStopResult, stopService } from './stop-service.js';

/** Options of {@link downStack}. */
export interface DownOptions {
  /** Services to stop, with their dependents; all when empty. */
  readonly services?: readonly string[];
  /** Stop exactly these services, not their dependents (used to undo a start). */
  readonly exact?: boolean;
  /** When aborted, SIGKILL what is still stopping (a second Ctrl-C). */
  readonly hurry?: AbortSignal;
  readonly inspector?: ProcessInspector;
}

/** The result of {@link downStack}: one entry per selected service, in stop order. */
export interface DownResult {
  readonly services: readonly ServiceStopResult[];
  /** True if nothing of the selection is left running. */
  readonly clean: boolean;
}

/**
 * Stops the selected services and their dependents: dependents first (by
 * dependency level, in reverse), services of one level in parallel. Each
 * stop takes the service's lock, stops the recorded instance's whole tree,
 * then every leftover process carrying one of the service's markers, and
 * removes the record.
 */
export async function downStack(
  config: ResolvedConfig,
  options: DownOptions = {},
): Promise<DownResult> {
  const names = options.exact
    ? [...(options.services ?? [])]
    : selectForStop(config, options.services ?? []);
  const inspector = options.inspector ?? systemInspector();
  checkStateDir(config.pidDir, { create: false });
  const results: ServiceStopResult[] = [];
  // One scan of the process table for leftovers of every selected service (each
  // stop re-checks its own under its lock), instead of one scan per service.
  const candidates = findMarked({ stack: stackId(config.name, config.file) }, inspector);
  for (const level of levelsOf(config, names).reverse()) {
    const done = await Promise.all(
      level.map(async (name) => {
        const result = await stopService(config, name, {
          inspector,
          candidates,
          ...(options.hurry === undefined ? {} : { hurry: options.hurry }),
        });
        return result;
      }),
    );
    results.push(...done);
  }
  return { services: results, clean: results.every((r) => r.problems.length === 0) };
}
