import { levelsOf, selectForStop } from '../config/select.js';
import type { ResolvedConfig } from '../config/types.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { findMarked } from '../process/sweep.js';
import { stackId } from '../state/marker.js';
import { assertStateDir } from '../state/trust.js';
import { serviceHandle } from './handle.js';
import { type ServiceStopResult, stopService } from './stop-service.js';

/** Options of {@link downStack}. */
export interface DownOptions {
  /** Services to stop, with their dependents; all when empty. */
  readonly services?: readonly string[];
  /**
   * Only the named services, not their dependents (`down --no-deps`: an
   * exported unit's `ExecStartPre=` takes its service over this way).
   */
  readonly noDeps?: boolean;
  readonly inspector?: ProcessInspector;
}

/** The result of {@link downStack}: one entry per selected service, in stop order. */
export interface DownResult {
  readonly services: readonly ServiceStopResult[];
  /** True if nothing of the selection is left running. */
  readonly clean: boolean;
}

/**
 * Stops the selected services and their dependents, whoever uses them:
 * dependents first (by dependency level, in reverse), services of one level
 * in parallel. Each stop takes the service's lock, ends every lease on it,
 * stops the recorded instance's whole tree, then every leftover process
 * carrying one of the service's markers, and removes the record. Without a
 * state folder (deleted, or a fresh clone while services run), the services
 * are found by their marker alone.
 */
export async function downStack(
  config: ResolvedConfig,
  options: DownOptions = {},
): Promise<DownResult> {
  const names = selectForStop(config, options.services ?? [], options.noDeps ?? false);
  const inspector = options.inspector ?? systemInspector();
  const stateDir = assertStateDir(config.pidDir);
  const results: ServiceStopResult[] = [];
  // One scan of the process table for leftovers of every selected service (each
  // stop re-checks its own under its lock), instead of one scan per service.
  const candidates = findMarked({ stack: stackId(config.name, config.file) }, inspector);
  for (const level of levelsOf(config, names).reverse()) {
    const done = await Promise.all(
      level.map((name) =>
        stopService(serviceHandle(config, name), {
          inspector,
          candidates,
          stateDir,
        }),
      ),
    );
    results.push(...done);
  }
  return { services: results, clean: results.every((r) => r.problems.length === 0) };
}
