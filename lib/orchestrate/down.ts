import { levelsOf, selectForStop } from '../config/select.js';
import type { ResolvedConfig } from '../config/types.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { classifyHolder } from '../ports/classify.js';
import { describeHolder, stopHolder } from '../ports/clear-port.js';
import { listenerScanner } from '../ports/scan.js';
import { stopWave } from '../process/stop.js';
import { findMarked, processTable } from '../process/sweep.js';
import { liveKeeper } from '../state/keeper.js';
import { stateListing } from '../state/lease.js';
import { stackOf } from '../state/marker.js';
import { assertStateDir } from '../state/trust.js';
import { type ServiceHandle, serviceHandle } from './handle.js';
import { type ServiceStopResult, stopService, withManaged } from './stop-service.js';

/** Options of {@link downStack}. */
export interface DownOptions {
  /** Services to stop, with their dependents; all when empty. */
  readonly services?: readonly string[];
  /**
   * Only the named services, not their dependents (`down --no-deps`: an
   * exported unit's `ExecStartPre=` takes its service over this way).
   */
  readonly noDeps?: boolean;
  /**
   * Also stop a process of this user that still holds a stopped service's
   * fixed port (a daemon whose marker is gone): named first, never another
   * user's, another stack's or systemd's. @default false
   */
  readonly force?: boolean;
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
  // The stops of a level run at once and share one process table, read every 20 ms.
  const table = processTable(inspector);
  // One scan of the process table for leftovers of every selected service (each
  // stop re-checks its own under its lock), instead of one scan per service: the
  // table's first read, which the first stops' looks share.
  const candidates = findMarked({ stack: stackOf(config) }, inspector, table);
  // And one listing of the state folder, for the leases they end (see StateListing).
  const listing = stateListing(config.pidDir);
  const keeper = liveKeeper(config.pidDir, stackOf(config), inspector)?.pid ?? null;
  // A task named here forgets its result even if it reruns only on change.
  const named = new Set(options.services ?? []);
  for (const level of levelsOf(config, names).reverse()) {
    // The stops of a level send their signals together (see stopWave).
    const member = stopWave(level.length);
    const done = await Promise.all(
      level.map((name) => {
        const wave = member();
        return stopService(serviceHandle(config, name), {
          inspector,
          candidates,
          stateDir,
          table,
          listing,
          keeper,
          wave,
          forget: named.has(name),
        }).finally(() => wave.arrive());
      }),
    );
    results.push(...done);
  }
  // One read of the listener tables for every port (not one per service), made after
  // every stop: only a port still listened on is looked at closely, for a systemd unit
  // that runs the service and for a process left holding it.
  const stopped = performance.now();
  const maybeHeld = (port: number | 'auto' | null) =>
    typeof port === 'number' && table.listening(port, stopped) !== false;
  const checked = await Promise.all(
    results.map((r) => {
      const h = serviceHandle(config, r.service);
      if (!maybeHeld(h.svc.port)) return r;
      // Its marked processes were looked at by its stop: here, only the port's holder.
      const managed = withManaged(h, r, { inspector, candidates: [] });
      return managed !== r ? managed : portLeftHeld(h, r, inspector, options);
    }),
  );
  return { services: checked, clean: checked.every((r) => r.problems.length === 0) };
}

/**
 * After the stop, the service's fixed port must be free: a process of this
 * user still holding it (one that lost its marker, such as a daemon that
 * rewrote its environment, or a copy started by hand) is named as a problem,
 * or with `force` stopped. The seed's "stop every leftover", made safe: this
 * user's processes only, named first. Another user's, another stack's or
 * systemd's holders are left to the start's pre-flight to report.
 */
async function portLeftHeld(
  h: ServiceHandle,
  result: ServiceStopResult,
  inspector: ProcessInspector,
  options: DownOptions,
): Promise<ServiceStopResult> {
  const port = h.svc.port;
  if (typeof port !== 'number') return result;
  const holders = (await listenerScanner(inspector)(port))
    .map((use) => classifyHolder(use, { stack: h.stack, service: h.svc, inspector }))
    .filter(
      (holder) =>
        holder.kind === 'earlier-instance' ||
        (holder.kind === 'foreign' && holder.otherStack === undefined),
    );
  const problems: string[] = [];
  const cleaned: string[] = [];
  for (const holder of holders) {
    if (options.force !== true) {
      problems.push(
        `${h.name}: port ${port} is still held by ${describeHolder(holder)} after the stop; 'launchguard down --force ${h.name}' stops it`,
      );
      continue;
    }
    const stopped = await stopHolder(h.svc, holder, inspector);
    if (stopped !== null && stopped.outcome !== 'survivors')
      cleaned.push(`stopped ${describeHolder(holder)}, which still held port ${port}`);
    else problems.push(`${h.name}: port ${port} is still held by ${describeHolder(holder)}`);
  }
  if (problems.length === 0 && cleaned.length === 0) return result;
  return {
    ...result,
    cleaned: [...result.cleaned, ...cleaned],
    problems: [...result.problems, ...problems],
  };
}
