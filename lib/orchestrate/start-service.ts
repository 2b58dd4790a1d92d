import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { LaunchError } from '../errors.js';
import { faultPoint } from '../fault.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import type { SystemdUnit } from '../os/systemd.js';
import { phase } from '../phase.js';
import type { ClearPortReport } from '../ports/clear-port.js';
import { type PreflightOptions, preparePort } from '../ports/preflight.js';
import { portIsFree } from '../ports/scan.js';
import { type ManagedInstance, managedInstance } from '../process/managed.js';
import { type SpawnedService, spawnService } from '../process/spawn.js';
import { markedTarget, type StopReport, stopInstance, stopOptionsFor } from '../process/stop.js';
import { leftoversOf, type MarkedProcess } from '../process/sweep.js';
import { tidyTempFiles } from '../state/files.js';
import { type LeaseHolder, writeLease } from '../state/lease.js';
import { acquireLock } from '../state/lock.js';
import { newInstanceMarker, stackOf } from '../state/marker.js';
import { servicePaths } from '../state/paths.js';
import {
  encodePorts,
  portOf,
  removeRecord,
  type ServiceRecord,
  writeRecord,
} from '../state/record.js';
import { otherStackNote, readServiceState, type ServiceState } from '../state/service-state.js';
import { ensureStateDir } from '../state/trust.js';
import { clearStale, serviceHandle } from './handle.js';

/** Options of {@link startService}. */
export interface StartServiceOptions extends Omit<PreflightOptions, 'portFree'> {
  /**
   * Ports by service name, shared by the whole start: a fixed port is
   * checked, an `'auto'` port is picked (or taken from the running instance's
   * record) and written here.
   */
  readonly ports?: Record<string, number>;
  /**
   * Replace a verified running instance: `'always'` (`--replace`, `restart`),
   * `'if-changed'` (its config hash differs), or `'never'`.
   * @default 'if-changed'
   */
  readonly replace?: 'always' | 'if-changed' | 'never';
  /** Restarts before this start, kept in the record for `status`. */
  readonly restarts?: number;
  /**
   * Processes carrying this stack's marker, from a scan made before the lock
   * was taken (one scan for a whole `up`). Used only if the lock was free at
   * the first try, so no launcher can have left a leftover since; otherwise,
   * and without it, the service's leftovers are found by a fresh scan.
   */
  readonly candidates?: readonly MarkedProcess[];
  readonly inspector?: ProcessInspector;
  /** Longest wait for another launcher's lock, in ms. @default 15000 */
  readonly lockTimeout?: number;
  /** Foreground output (see `spawnService`). */
  readonly tee?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  readonly baseEnv?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  /**
   * Takes this holder's lease on the service (kept or started), under the
   * service's lock: see `state/lease.ts`.
   */
  readonly holder?: LeaseHolder;
  /** Writes the record (a seam for tests of the rollback). @default writeRecord */
  readonly writeRecord?: typeof writeRecord;
  /** Spawns the service (a seam: unit tests spawn into a fake process table). @default spawnService */
  readonly spawn?: typeof spawnService;
}

/** What {@link startService} did. */
export type StartOutcome =
  | {
      readonly kind: 'started';
      readonly record: ServiceRecord;
      readonly spawned: SpawnedService;
      /** Earlier instances (lost records, leftovers of a killed launcher) stopped first. */
      readonly replaced: readonly StopReport[];
      /** Stale, reused or corrupt state that was cleared, in words. */
      readonly cleared: readonly string[];
      /** What the port pre-flight stopped. */
      readonly port: ClearPortReport;
    }
  | { readonly kind: 'already-running'; readonly record: ServiceRecord }
  /**
   * Runs under systemd (its exported unit, or a unit with its marker): kept,
   * never replaced or stopped by launchguard. `record` describes the process;
   * it is not on disk.
   */
  | { readonly kind: 'managed'; readonly record: ServiceRecord; readonly unit: SystemdUnit };

/** What launchguard knows of an instance systemd runs, in a record's shape (never written). */
function managedRecord(
  config: ResolvedConfig,
  svc: ResolvedService,
  managed: ManagedInstance,
  inspector: ProcessInspector,
): ServiceRecord {
  const stack = stackOf(config);
  return {
    version: 1,
    service: svc.name,
    stack,
    pid: managed.pid,
    pgid: managed.pgid,
    startTime: managed.startTime,
    bootId: inspector.bootId(),
    pidNamespace: inspector.pidNamespace(),
    command: inspector.cmdline(managed.pid) ?? [],
    cwd: inspector.cwd(managed.pid) ?? svc.cwd,
    ports: typeof svc.port === 'number' ? encodePorts({ [svc.name]: svc.port }) : '',
    configHash: svc.configHash,
    instance: managed.marker ?? '',
    startedAt: new Date().toISOString(),
    launcherPid: 0,
    logFile: servicePaths(config.pidDir, svc.name).log,
  };
}

/** Clears what a previous start left behind; throws if it cannot be cleared safely. */
function clearState(config: ResolvedConfig, name: string, state: ServiceState): string | undefined {
  const paths = servicePaths(config.pidDir, name);
  switch (state.kind) {
    case 'other-stack':
      throw new LaunchError('E_STATE', `${name}: ${otherStackNote(name, state)}`, {
        service: name,
        hint: `two stacks share the state folder ${config.pidDir}: set a pidDir of its own in each config (stop the other one first with its own 'launchguard down')`,
      });
    case 'unverifiable':
      if (state.reason === 'recorded in another boot') {
        removeRecord(config.pidDir, state.record, name);
        return `removed the record of ${name} from an earlier boot`;
      }
      throw new LaunchError(
        'E_STATE',
        `${name}: ${paths.pid} names pid ${state.pid}, which cannot be verified here: ${state.reason}`,
        {
          service: name,
          hint: `if no such process runs, delete ${paths.pid} (and ${paths.record}); launchguard never signals a process it cannot verify`,
        },
      );
    default:
      return clearStale(serviceHandle(config, name), state);
  }
}

/** The state before a start: a running instance to keep, or what is left to clear. */
type Existing =
  | { readonly kind: 'keep'; readonly record: ServiceRecord }
  | { readonly kind: 'clear'; readonly state: ServiceState; readonly replaced: StopReport[] };

/** Keeps a verified running instance, or stops it when it is to be replaced. */
async function keepOrReplace(
  config: ResolvedConfig,
  svc: ResolvedService,
  inspector: ProcessInspector,
  policy: NonNullable<StartServiceOptions['replace']>,
): Promise<Existing> {
  const state = readServiceState(config.pidDir, svc.name, inspector, stackOf(config));
  if (state.kind !== 'running') return { kind: 'clear', state, replaced: [] };
  const same = state.record.configHash === svc.configHash;
  if (policy === 'never' || (policy === 'if-changed' && same))
    return { kind: 'keep', record: state.record };
  const report = await stopInstance(
    { ...state.record, recorded: true },
    stopOptionsFor(svc, inspector),
  );
  removeRecord(config.pidDir, state.record, svc.name);
  return { kind: 'clear', state: { kind: 'none' }, replaced: [report] };
}

/**
 * Stops earlier instances found by the service's marker (leftovers of a
 * killed launcher). The caller's scan is reused only if the lock was free at
 * the first try (no launcher can have left one since); each is re-checked.
 */
async function stopLeftovers(
  svc: ResolvedService,
  stack: string,
  inspector: ProcessInspector,
  candidates: readonly MarkedProcess[] | undefined,
  skip: readonly StopReport[],
): Promise<StopReport[]> {
  const leftovers = leftoversOf({ stack, service: svc.name }, inspector, candidates);
  const reports: StopReport[] = [];
  for (const m of leftovers) {
    if (skip.some((r) => r.survivors.includes(m.info.pid))) continue;
    reports.push(
      await stopInstance(markedTarget(m, svc.name, inspector), stopOptionsFor(svc, inspector)),
    );
  }
  return reports;
}

/** Spawns the service and writes its record; stops it again if the record cannot be written. */
async function spawnRecorded(
  config: ResolvedConfig,
  svc: ResolvedService,
  ports: Record<string, number>,
  inspector: ProcessInspector,
  options: StartServiceOptions,
): Promise<{ record: ServiceRecord; spawned: SpawnedService }> {
  const stack = stackOf(config);
  const paths = servicePaths(config.pidDir, svc.name);
  const marker = newInstanceMarker(stack, svc.name);
  const spawned = await (options.spawn ?? spawnService)(svc, {
    marker,
    ports,
    logFile: paths.log,
    logRotation: config.logs,
    ...(options.tee === undefined ? {} : { tee: options.tee }),
    ...(options.baseEnv === undefined ? {} : { baseEnv: options.baseEnv }),
  });
  faultPoint('after-spawn');
  const looked = inspector.lookup(spawned.pid);
  const record: ServiceRecord = {
    version: 1,
    service: svc.name,
    stack,
    pid: spawned.pid,
    pgid: spawned.pgid,
    startTime: looked.kind === 'alive' ? looked.info.startTime : '',
    bootId: inspector.bootId(),
    pidNamespace: inspector.pidNamespace(),
    command: svc.argv,
    cwd: svc.cwd,
    ports: encodePorts(ports),
    configHash: svc.configHash,
    instance: marker,
    startedAt: new Date().toISOString(),
    launcherPid: process.pid,
    logFile: paths.log,
    logOffset: spawned.logOffset,
    ...(options.restarts ? { restarts: options.restarts } : {}),
  };
  try {
    (options.writeRecord ?? writeRecord)(config.pidDir, record);
    if (options.holder) writeLease(config.pidDir, options.holder, svc.name);
  } catch (error) {
    // Roll back: a process without a record is exactly what launchguard exists to prevent,
    // and one this launcher cannot hold (no lease written: a full disk) would outlive it.
    await stopInstance({ ...record, recorded: true }, stopOptionsFor(svc, inspector));
    removeRecord(config.pidDir, record, svc.name);
    throw error;
  }
  return { record, spawned };
}

/**
 * Starts one service exactly once, safe against any number of concurrent
 * launchers: under the service's lock it reads and verifies the state, keeps a
 * verified running instance, clears stale or corrupt state, stops leftovers of
 * earlier instances (found by their marker), runs the port pre-flight, spawns,
 * and writes the record. If the record cannot be written, the spawned tree is
 * stopped again: no process is left running without a record. Readiness is
 * the caller's next step.
 */
export async function startService(
  config: ResolvedConfig,
  name: string,
  options: StartServiceOptions = {},
): Promise<StartOutcome> {
  const svc = config.services[name] as ResolvedService | undefined;
  if (svc === undefined) throw new LaunchError('E_USAGE', `unknown service '${name}'`);
  const inspector = options.inspector ?? systemInspector();
  ensureStateDir(config.pidDir);
  tidyTempFiles(config.pidDir);
  const lock = await acquireLock(servicePaths(config.pidDir, name).lock, name, {
    inspector,
    ...(options.lockTimeout === undefined ? {} : { timeout: options.lockTimeout }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  try {
    faultPoint('after-lock');
    const ports = options.ports ?? {};
    const existing = await keepOrReplace(config, svc, inspector, options.replace ?? 'if-changed');
    if (existing.kind === 'keep') {
      const own = portOf(existing.record, name);
      if (own !== undefined) ports[name] = own;
      if (options.holder) writeLease(config.pidDir, options.holder, name);
      return { kind: 'already-running', record: existing.record };
    }
    // Its own port, about to be taken: one bind says "nobody" (see listenerScanner).
    const portFree =
      options.scanner === undefined && typeof svc.port === 'number' && (await portIsFree(svc.port));
    // Not launchguard's, but systemd's: its exported unit (or a unit with the marker) runs it.
    const managed = managedInstance(
      config,
      svc,
      inspector,
      lock.fresh ? options.candidates : undefined,
      portFree,
    );
    if (managed !== null) {
      if (typeof svc.port === 'number') ports[name] = svc.port;
      const record = managedRecord(config, svc, managed, inspector);
      return { kind: 'managed', record, unit: managed.unit };
    }
    const cleared = [clearState(config, name, existing.state)].filter(
      (c): c is string => c !== undefined,
    );
    const stack = stackOf(config);
    const candidates = lock.fresh ? options.candidates : undefined;
    const replaced = [
      ...existing.replaced,
      ...(await stopLeftovers(svc, stack, inspector, candidates, existing.replaced)),
    ];
    // Free at that bind, and nothing stopped since (which takes time, in which another
    // process could take it): the pre-flight need not bind it again.
    const port = await preparePort(svc, ports, stack, inspector, {
      ...options,
      portFree: portFree && replaced.length === 0,
    });
    phase('preflight', name);
    const { record, spawned } = await spawnRecorded(config, svc, ports, inspector, options);
    phase('spawned', name);
    if (spawned.logNote !== undefined) cleared.push(spawned.logNote);
    return { kind: 'started', record, spawned, replaced, cleared, port };
  } finally {
    lock.release();
  }
}
