import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { delay, untilAborted } from '../delay.js';
import { type ExitInfo, failedExit } from '../exit.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import type { SpawnedService } from '../process/spawn.js';
import { holdsLease, type LeaseHolder } from '../state/lease.js';
import { type BringUpOptions, type BringUpResult, bringUp } from './bring-up.js';
import type { EventSink, StackEvent } from './events.js';
import { serviceHandle, successorOf } from './handle.js';
import { markReady } from './mark-ready.js';
import type { ServiceUp } from './up.js';

/** Restart back-off: 500 ms, doubling, at most 15 s. */
export function restartDelay(attempt: number): number {
  return Math.min(500 * 2 ** attempt, 15_000);
}

/** Whether a service's restart policy asks for another start after this exit. */
function wantsRestart(svc: ResolvedService, exit: ExitInfo): boolean {
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
  const stop = untilAborted(signal);
  const watching: Watching = { ...options, inspector, emit, start, stop: stop.promise };
  try {
    const failures = await Promise.all(
      services.filter((s) => s.outcome === 'started').map((s) => watch(config, s, watching)),
    );
    return failures.includes(true);
  } finally {
    stop.dispose();
  }
}

/** What {@link watch} needs: the options, resolved, and the stop as a promise. */
interface Watching extends SuperviseOptions {
  readonly inspector: ProcessInspector;
  readonly emit: EventSink;
  readonly start: NonNullable<SuperviseOptions['bringUp']>;
  /** Settles (to null) when supervision ends. */
  readonly stop: Promise<null>;
}

/** Watches one service until it ends for good or supervision stops; true if it failed. */
async function watch(config: ResolvedConfig, first: ServiceUp, w: Watching): Promise<boolean> {
  const { signal, emit } = w;
  const name = first.name;
  const svc = config.services[name] as ResolvedService;
  let spawned = first.spawned;
  let restarts = 0;
  while (spawned !== undefined) {
    const exit = await Promise.race([spawned.exit, w.stop]);
    if (exit === null) return false;
    const end = await endOf(config, name, exit, restarts, {
      marker: spawned.marker,
      inspector: w.inspector,
      signal,
      ...(w.holder === undefined ? {} : { holder: w.holder }),
    });
    if (signal.aborted) return false; // stopping: the exit is the stop's business
    if (end !== null) {
      emit(end.event);
      return end.failed;
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
    if (signal.aborted) return false;
    spawned = await restartOnce(config, name, restarts, w.start, w, emit);
    if (spawned === undefined && !signal.aborted) return true;
  }
  return false;
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
  const successor = await successorOf(serviceHandle(config, name), watched.marker, {
    inspector: watched.inspector,
    signal: watched.signal,
  });
  if (successor !== null)
    return { event: { type: 'replaced', service: name, record: successor }, failed: false };
  if (!wantsRestart(svc, exit))
    return { event: { type: 'exited', service: name, exit }, failed: failedExit(exit) };
  if (restarts >= svc.maxRestarts)
    return { event: { type: 'crash-loop', service: name, exit, restarts }, failed: true };
  return null;
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
