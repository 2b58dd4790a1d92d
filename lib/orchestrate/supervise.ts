import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { delay, untilAborted } from '../delay.js';
import { type ExitInfo, failedExit } from '../exit.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { checkOnce } from '../probes/runner.js';
import { instanceGone } from '../process/daemon.js';
import { serviceEnv } from '../process/env.js';
import { stopInstance, stopOptionsFor } from '../process/stop.js';
import { writeCompletion } from '../state/completion.js';
import { holdsLease, type LeaseHolder } from '../state/lease.js';
import { stackOf } from '../state/marker.js';
import { portOf, portsOf, type ServiceRecord } from '../state/record.js';
import { type BringUpOptions, type BringUpResult, bringUp } from './bring-up.js';
import type { EventSink, StackEvent } from './events.js';
import { serviceHandle, successorOf } from './handle.js';
import { markHealth, markReady } from './mark-ready.js';
import type { ServiceUp } from './up.js';
import { watchFiles } from './watch.js';

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
  /**
   * Also watch services another launcher started (`kept`): their end is seen
   * by their identity (their exit code is unknown). The keeper, taking over a
   * running stack, sets this. @default false
   */
  readonly adopt?: boolean;
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
    const failures = await Promise.all(services.map((s) => watch(config, s, watching)));
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

/** What a watch follows of an instance: how to learn its end, its marker, its start. */
interface Watched {
  readonly exit: Promise<ExitInfo>;
  readonly record: ServiceRecord | undefined;
  readonly marker: string;
  /** performance.now() when it started (for `minUptime`). */
  readonly since: number;
}

/**
 * The instance of `up` to watch: the child this launcher spawned (its exit
 * code is known), or with `adopt` one another launcher started (a keeper
 * taking over a running stack): its end is seen by its identity, code unknown.
 */
function watchedOf(up: ServiceUp, w: Watching): Watched | undefined {
  const started = up.record?.startedAt;
  const since = performance.now() - (started ? Math.max(0, Date.now() - Date.parse(started)) : 0);
  if (up.spawned !== undefined)
    return { exit: up.spawned.exit, record: up.record, marker: up.spawned.marker, since };
  if (w.adopt !== true || up.record === undefined || up.outcome !== 'kept') return undefined;
  const exit = instanceGone(up.record, w.inspector);
  return { exit, record: up.record, marker: up.record.instance, since };
}

/** Restart counts of one watched service: in a row (for `maxRestarts`), and in all. */
interface Counts {
  inARow: number;
  total: number;
}

/** What follows an instance's end: the next instance to watch, or the end (`failed` or not). */
type Step = { readonly next: Watched } | { readonly failed: boolean };

/** Watches one service until it ends for good or supervision stops; true if it failed. */
async function watch(config: ResolvedConfig, first: ServiceUp, w: Watching): Promise<boolean> {
  const svc = config.services[first.name] as ResolvedService;
  const counts: Counts = { inARow: 0, total: first.record?.restarts ?? 0 };
  let current = watchedOf(first, w);
  while (current !== undefined) {
    const step = await untilEnd(config, svc, current, counts, w);
    if ('failed' in step) return step.failed;
    current = step.next;
  }
  return false;
}

/** Watches one instance (its checks and files too) until it ends, and decides what follows. */
async function untilEnd(
  config: ResolvedConfig,
  svc: ResolvedService,
  current: Watched,
  counts: Counts,
  w: Watching,
): Promise<Step> {
  const checking = watchHealth(config, svc, current.record, w);
  const changed = onChanges(svc, current.record, w);
  const exit = await Promise.race([current.exit, w.stop]);
  checking.close();
  changed.close();
  // A stop of its own (unhealthy, a changed file) ends before anything starts it again.
  await Promise.all([checking.stopped(), changed.stopped()]);
  if (exit === null || w.signal.aborted) return { failed: false }; // a stop is the stop's business
  // A restart counts toward maxRestarts only if the instance did not live minUptime.
  if (performance.now() - current.since >= svc.minUptime) counts.inARow = 0;
  const forChange = changed.file() !== null;
  const end = await endOf(config, svc.name, exit, forChange ? 0 : counts.inARow, {
    marker: current.marker,
    inspector: w.inspector,
    signal: w.signal,
    ...(w.holder === undefined ? {} : { holder: w.holder }),
  });
  if (w.signal.aborted) return { failed: false };
  if (isOwnEnd(end)) recordExit(config, svc.name, exit);
  // Stopped for a change of its files: restarted at once whatever its policy (not a
  // failure), unless `down` took it or another launcher replaced it meanwhile.
  if (end !== null && !(forChange && isOwnEnd(end))) {
    w.emit(end.event);
    return { failed: end.failed };
  }
  if (!forChange) {
    const delayMs = restartDelay(counts.inARow);
    counts.inARow++;
    w.emit({
      type: 'restarting',
      service: svc.name,
      exit,
      attempt: counts.inARow,
      max: svc.maxRestarts,
      delayMs,
    });
    await delay(delayMs, w.signal);
    if (w.signal.aborted) return { failed: false };
  }
  counts.total++;
  const again = await restartOnce(config, svc.name, counts.total, w.start, w, w.emit);
  // Another supervisor of a kept service restarted it first: watch its instance.
  const theirs = again === undefined ? undefined : watchedOf(again, w);
  if (again?.spawned === undefined)
    return theirs === undefined ? { failed: !w.signal.aborted } : { next: theirs };
  return {
    next: {
      exit: again.spawned.exit,
      record: again.record,
      marker: again.spawned.marker,
      since: performance.now(),
    },
  };
}

/**
 * Watch mode while an instance lives: the first change of a watched file
 * (debounced) is reported (`changed`) and the instance stopped, which the
 * watch then restarts. `file()` says whether that happened.
 */
function onChanges(
  svc: ResolvedService,
  record: ServiceRecord | undefined,
  w: Watching,
): { close: () => void; file: () => string | null; stopped: () => Promise<unknown> } {
  let changed: string | null = null;
  let stopping: Promise<unknown> = Promise.resolve();
  const close = watchFiles(svc, (file) => {
    if (changed !== null || record === undefined) return;
    changed = file;
    w.emit({ type: 'changed', service: svc.name, file });
    stopping = stopInstance({ ...record, recorded: true }, stopOptionsFor(svc, w.inspector));
  });
  return { close, file: () => changed, stopped: () => stopping };
}

/** A pause that does not keep the process alive (a `launch()` host may end any time). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs the service's liveness check (`health`) every `interval` while the
 * instance lives: after `failures` failures in a row it is unhealthy (event,
 * recorded for `status`), and if its restart policy restarts it, it is
 * stopped, which the watch then sees as an exit to restart (a failure). A
 * passing check after that says `healthy`. Returns the end of the checks.
 */
function watchHealth(
  config: ResolvedConfig,
  svc: ResolvedService,
  record: ServiceRecord | undefined,
  w: Watching,
): { close: () => void; stopped: () => Promise<unknown> } {
  const health = svc.health;
  if (health === null || record === undefined)
    return { close: () => undefined, stopped: () => Promise.resolve() };
  const ac = new AbortController();
  const signal = AbortSignal.any([ac.signal, w.signal]);
  const loop = checkLoop(config, svc, health, record, w, signal);
  return { close: () => ac.abort(), stopped: () => loop };
}

/** The loop of {@link watchHealth}: one check per interval until the signal aborts. */
async function checkLoop(
  config: ResolvedConfig,
  svc: ResolvedService,
  health: NonNullable<ResolvedService['health']>,
  record: ServiceRecord,
  w: Watching,
  signal: AbortSignal,
): Promise<void> {
  let failed = 0;
  let last: 'healthy' | 'unhealthy' | null = record.health ?? null;
  const verdict = (v: 'healthy' | 'unhealthy') =>
    markHealth(config, record, v, w.inspector).catch(() => undefined);
  while (!signal.aborted) {
    await pause(health.interval, signal);
    if (signal.aborted) return;
    const result = await checkOnce({
      service: svc.name,
      probe: health.probe,
      port: portOf(record, svc.name) ?? null,
      target: { ...record, recorded: true },
      cwd: svc.cwd,
      env: () => serviceEnv(svc, portsOf(record), record.instance),
      inspector: w.inspector,
      timeout: health.timeout,
      signal,
    });
    if (signal.aborted) return;
    if (result.ok) {
      failed = 0;
      if (last === 'unhealthy') w.emit({ type: 'healthy', service: svc.name });
      if (last !== 'healthy') await verdict('healthy');
      last = 'healthy';
      continue;
    }
    if (++failed !== health.failures) continue;
    last = 'unhealthy';
    w.emit({ type: 'unhealthy', service: svc.name, reason: result.error });
    await verdict('unhealthy');
    if (svc.restart === 'no') continue;
    // Stopped: the watch sees the exit, and the restart policy restarts it (a failure).
    await stopInstance({ ...record, recorded: true }, stopOptionsFor(svc, w.inspector));
    return;
  }
}

/** False for an end `down` caused or another launcher's replacement: not this watch's to record. */
function isOwnEnd(end: { readonly event: StackEvent } | null): boolean {
  return end === null || (end.event.type !== 'taken-down' && end.event.type !== 'replaced');
}

/** Keeps how a watched service ended (`status` shows it as `lastExit`); never throws. */
function recordExit(config: ResolvedConfig, name: string, exit: ExitInfo): void {
  const svc = config.services[name] as ResolvedService;
  try {
    writeCompletion(config.pidDir, {
      version: 1,
      service: name,
      stack: stackOf(config),
      configHash: svc.configHash,
      code: exit.code,
      signal: exit.signal,
      at: new Date().toISOString(),
    });
  } catch {
    // a full disk: status will not know how it ended, the restart policy still applies
  }
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
): Promise<ServiceUp | undefined> {
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
    return service;
  } catch (error) {
    if (!options.signal.aborted) emit({ type: 'restart-failed', service: name, error });
    return undefined;
  }
}
