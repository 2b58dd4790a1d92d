import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { delay } from '../delay.js';
import { type ExitInfo, failedExit } from '../exit.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import type { SpawnedService } from '../process/spawn.js';
import { holdsLease, type LeaseHolder } from '../state/lease.js';
import { acquireLock, type LockHandle } from '../state/lock.js';
import { stackOf } from '../state/marker.js';
import { servicePaths } from '../state/paths.js';
import type { ServiceRecord } from '../state/record.js';
import { readServiceState } from '../state/service-state.js';
import { type BringUpOptions, type BringUpResult, bringUp } from './bring-up.js';
import type { EventSink, StackEvent } from './events.js';
import { markReady } from './mark-ready.js';
import type { ServiceUp } from './up.js';

/** Restart back-off: 500 ms, doubling, at most 15 s. */
export function restartDelay(attempt: number): number {
  return Math.min(500 * 2 ** attempt, 15_000);
}

/** Whether a service's restart policy asks for another start after this exit. */
export function wantsRestart(svc: ResolvedService, exit: ExitInfo): boolean {
  if (svc.restart === 'always') return true;
  return svc.restart === 'on-failure' && failedExit(exit);
}

/** Options of {@link supervise}. */
export interface SuperviseOptions {
  /** Stops watching (and any pending restart) when aborted. */
  readonly signal: AbortSignal;
  readonly inspector?: ProcessInspector;
  readonly onEvent?: EventSink;
  /** Foreground output of restarted instances (see `spawnService`). */
  readonly tee?: (service: string, chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** The lease holder of the services (see `upStack`); restarts renew its lease. */
  readonly holder?: LeaseHolder;
  /** Called when a restart brought a service up again, with its new instance. */
  readonly onRestarted?: (service: ServiceUp) => void;
  /** Starts a service again (a seam for tests). @default bringUp */
  readonly bringUp?: (
    config: ResolvedConfig,
    name: string,
    options: BringUpOptions,
  ) => Promise<BringUpResult>;
}

/**
 * A promise that settles (to null) when `signal` aborts, and the removal of
 * its one listener: every watched service races its exit against it, so 20
 * services add one listener to the caller's signal, not 20.
 */
function stopped(signal: AbortSignal): { promise: Promise<null>; dispose: () => void } {
  if (signal.aborted) return { promise: Promise.resolve(null), dispose: () => undefined };
  let onAbort: () => void = () => undefined;
  const promise = new Promise<null>((resolve) => {
    onAbort = () => resolve(null);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

/**
 * Watches the services this launcher spawned until `signal` aborts or none is
 * left running, and applies each service's restart policy: after an exit the
 * policy asks to restart, the service is started again after a back-off of
 * 0.5, 1, 2... s (at most 15 s); after `maxRestarts` restarts in a row it is
 * reported as a crash loop and left stopped. A service `launchguard down`
 * stopped (it ends the leases first) is never restarted (`taken-down`), nor
 * one another launcher replaced (`replaced`). Reports through `onEvent`
 * (`exited`, `taken-down`, `replaced`, `restarting`, `restarted`,
 * `restart-failed`, `crash-loop`).
 * Resolves to true if a service failed for good.
 */
export async function supervise(
  config: ResolvedConfig,
  services: readonly ServiceUp[],
  options: SuperviseOptions,
): Promise<boolean> {
  const { signal } = options;
  const emit = options.onEvent ?? (() => undefined);
  const start = options.bringUp ?? bringUp;
  const inspector = options.inspector ?? systemInspector();
  let failed = false;
  const stop = stopped(signal);
  const watch = async (first: ServiceUp): Promise<void> => {
    const name = first.name;
    const svc = config.services[name] as ResolvedService;
    let spawned = first.spawned;
    let restarts = 0;
    while (spawned !== undefined) {
      const exit = await Promise.race([spawned.exit, stop.promise]);
      if (exit === null) return;
      const end = await endOf(config, name, exit, restarts, {
        marker: spawned.marker,
        inspector,
        signal,
        ...(options.holder === undefined ? {} : { holder: options.holder }),
      });
      if (signal.aborted) return; // stopping: the exit is the stop's business
      if (end !== null) {
        if (end.failed) failed = true;
        emit(end.event);
        return;
      }
      const delayMs = restartDelay(restarts);
      restarts++;
      emit({
        type: 'restarting',
        service: name,
        exit,
        attempt: restarts,
        max: svc.maxRestarts,
        delayMs,
      });
      await delay(delayMs, signal);
      if (signal.aborted) return;
      spawned = await restartOnce(config, name, restarts, start, { ...options, inspector }, emit);
      if (spawned === undefined && !signal.aborted) failed = true;
    }
  };
  try {
    await Promise.all(services.filter((s) => s.outcome === 'started').map(watch));
  } finally {
    stop.dispose();
  }
  return failed;
}

/**
 * The end of a watched service after an exit, or null if it is to be
 * restarted: stopped by `down` (which ends this launcher's lease before it
 * stops: final, never restarted), replaced by another launcher (`restart`,
 * `up --replace`: the new instance is theirs), an exit its policy does not
 * restart, or a crash loop.
 */
async function endOf(
  config: ResolvedConfig,
  name: string,
  exit: ExitInfo,
  restarts: number,
  watched: {
    readonly marker: string;
    readonly inspector: ProcessInspector;
    readonly signal: AbortSignal;
    readonly holder?: LeaseHolder;
  },
): Promise<{ readonly event: StackEvent; readonly failed: boolean } | null> {
  const svc = config.services[name] as ResolvedService;
  if (watched.holder !== undefined && !holdsLease(config.pidDir, watched.holder, name))
    return { event: { type: 'taken-down', service: name }, failed: false };
  const successor = await replacedBy(config, name, watched);
  if (successor !== null)
    return { event: { type: 'replaced', service: name, record: successor }, failed: false };
  if (!wantsRestart(svc, exit))
    return { event: { type: 'exited', service: name, exit }, failed: failedExit(exit) };
  if (restarts >= svc.maxRestarts)
    return { event: { type: 'crash-loop', service: name, exit, restarts }, failed: true };
  return null;
}

/**
 * The instance that replaced the watched one, if another launcher replaced it
 * (`restart`, `up --replace`). Such a launcher stops the old instance under
 * the service's lock and records the new one before it lets go, so the answer
 * is read under the lock, once that launcher is done. Null if none did.
 */
async function replacedBy(
  config: ResolvedConfig,
  name: string,
  watched: {
    readonly marker: string;
    readonly inspector: ProcessInspector;
    readonly signal: AbortSignal;
  },
): Promise<ServiceRecord | null> {
  const { marker, inspector, signal } = watched;
  let lock: LockHandle;
  try {
    lock = await acquireLock(servicePaths(config.pidDir, name).lock, name, { inspector, signal });
  } catch {
    return null; // busy, aborted or unusable: the restart policy decides, and its start says why
  }
  try {
    const now = readServiceState(config.pidDir, name, inspector, stackOf(config));
    return now.kind === 'running' && now.record.instance !== marker ? now.record : null;
  } finally {
    lock.release();
  }
}

async function restartOnce(
  config: ResolvedConfig,
  name: string,
  restarts: number,
  start: NonNullable<SuperviseOptions['bringUp']>,
  options: SuperviseOptions & { inspector: ProcessInspector },
  emit: EventSink,
): Promise<SpawnedService | undefined> {
  const tee = options.tee;
  try {
    const up = await start(config, name, {
      ...(tee
        ? { tee: (chunk: Buffer, stream: 'stdout' | 'stderr') => tee(name, chunk, stream) }
        : {}),
      replace: 'never',
      restarts,
      ...(options.holder === undefined ? {} : { holder: options.holder }),
      signal: options.signal,
      inspector: options.inspector,
    });
    const record = await markReady(config, up.record, options.inspector);
    const spawned = up.outcome.kind === 'started' ? up.outcome.spawned : undefined;
    const service: ServiceUp = {
      name,
      outcome: up.outcome.kind === 'started' ? 'started' : 'kept',
      record,
      readyMs: up.ready.ms,
      ...(spawned ? { spawned } : {}),
    };
    options.onRestarted?.(service);
    emit({ type: 'restarted', service: name, record });
    return spawned;
  } catch (error) {
    if (!options.signal.aborted) emit({ type: 'restart-failed', service: name, error });
    return undefined;
  }
}
