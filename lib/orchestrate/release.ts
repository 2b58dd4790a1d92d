import { levelsOf } from '../config/select.js';
import type { ResolvedConfig } from '../config/types.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { signalInstance } from '../process/stop.js';
import {
  type LeaseHolder,
  liveLeases,
  removeLease,
  type StateListing,
  stateListing,
} from '../state/lease.js';
import { acquireLock } from '../state/lock.js';
import { stackOf } from '../state/marker.js';
import { servicePaths } from '../state/paths.js';
import { updateRecord } from '../state/record.js';
import { readServiceState } from '../state/service-state.js';
import type { DownResult } from './down.js';
import { type ServiceHandle, serviceHandle, stateOf } from './handle.js';
import { type ServiceStopResult, stopLocked } from './stop-service.js';

/** Options of {@link releaseStack}. */
export interface ReleaseOptions {
  readonly inspector?: ProcessInspector;
  /** When aborted, SIGKILL what is still stopping (a second Ctrl-C). */
  readonly hurry?: AbortSignal;
  /**
   * Instances (markers) stopped even if pinned: the rollback of an `up -d`
   * that pinned them as they became ready.
   */
  readonly unpin?: ReadonlySet<string>;
}

/**
 * Gives `holder`'s lease on one service back and, under the service's lock,
 * stops the service if nobody else holds it and `up -d` did not ask it to
 * stay: the last one out stops it.
 */
async function releaseService(
  h: ServiceHandle,
  holder: LeaseHolder,
  options: ReleaseOptions & { inspector: ProcessInspector; listing: StateListing },
): Promise<ServiceStopResult> {
  const { inspector } = options;
  const lock = await acquireLock(h.paths.lock, h.name, { inspector });
  try {
    removeLease(h.config.pidDir, holder, h.name);
    const state = stateOf(h, inspector);
    const kept = { service: h.name, orphans: [], cleaned: [], problems: [] };
    if (
      state.kind === 'running' &&
      state.record.detached === true &&
      options.unpin?.has(state.record.instance) !== true
    )
      return { ...kept, pinned: true };
    // Our own lease may still be in a shared listing: its file is gone, so it does not count.
    const others = liveLeases(h.config.pidDir, h.name, inspector, {
      stack: h.stack,
      names: options.listing.names(lock.takenAt),
    });
    if (state.kind === 'running' && others.length > 0)
      return { ...kept, keptFor: [...new Set(others.map((l) => l.pid))] };
    return await stopLocked(h, options, state);
  } finally {
    lock.release();
  }
}

/**
 * Releases `holder`'s leases on the named services, dependents first (by
 * dependency level, in reverse; one level in parallel): each is stopped
 * unless another live user still holds it or it was started or kept by
 * `up -d`. The end of a foreground `up`, of `run`, of a `launch()` handle,
 * and the rollback of a failed start.
 */
export async function releaseStack(
  config: ResolvedConfig,
  names: readonly string[],
  holder: LeaseHolder,
  options: ReleaseOptions = {},
): Promise<DownResult> {
  const inspector = options.inspector ?? systemInspector();
  const results: ServiceStopResult[] = [];
  const listing = stateListing(config.pidDir); // one for the leases of all (see StateListing)
  for (const level of levelsOf(config, names).reverse()) {
    results.push(
      ...(await Promise.all(
        level.map((n) =>
          releaseService(serviceHandle(config, n), holder, { ...options, inspector, listing }),
        ),
      )),
    );
  }
  return { services: results, clean: results.every((r) => r.problems.length === 0) };
}

/**
 * Turns `holder`'s leases into "stay until down" (`up -d`, `restart`): each
 * running service is marked detached and the lease given back, unless
 * `keepLeases` (the keeper's own: it keeps holding them).
 */
export async function pinServices(
  config: ResolvedConfig,
  names: readonly string[],
  holder: LeaseHolder,
  inspector: ProcessInspector,
  keepLeases = false,
): Promise<void> {
  // Each service under its own lock, all at once (one after another, 500 services took
  // a second here).
  await Promise.all(
    names.map(async (name) => {
      const lock = await acquireLock(servicePaths(config.pidDir, name).lock, name, { inspector });
      try {
        const state = readServiceState(config.pidDir, name, inspector, stackOf(config));
        if (state.kind === 'running' && state.record.detached !== true)
          updateRecord(config.pidDir, { ...state.record, detached: true });
        if (!keepLeases) removeLease(config.pidDir, holder, name);
      } finally {
        lock.release();
      }
    }),
  );
}

/**
 * The release for a host that is exiting, synchronously (exit handlers cannot
 * wait): gives `holder`'s leases back and sends SIGTERM to each held service
 * that no other live user holds and `up -d` did not pin, verified groups
 * only. It cannot take locks, wait for the services to end or escalate to
 * SIGKILL: records stay (the next command sees them exited), and a service
 * that ignores SIGTERM is stopped by the next `up` or `down`, which find it by
 * its marker.
 */
export function releaseNow(
  config: ResolvedConfig,
  names: readonly string[],
  holder: LeaseHolder,
  inspector: ProcessInspector = systemInspector(),
): void {
  for (const name of names) {
    try {
      removeLease(config.pidDir, holder, name);
      const state = readServiceState(config.pidDir, name, inspector, stackOf(config));
      if (state.kind !== 'running' || state.record.detached === true) continue;
      if (liveLeases(config.pidDir, name, inspector, { stack: stackOf(config) }).length > 0)
        continue;
      signalInstance({ ...state.record, recorded: true }, 'SIGTERM', inspector);
    } catch {
      // an exit handler must not throw: the next up or down finds what is left
    }
  }
}
