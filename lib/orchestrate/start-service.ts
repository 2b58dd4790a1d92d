import { renameSync } from 'node:fs';
import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { LaunchError } from '../errors.js';
import { faultPoint } from '../fault.js';
import { identityOf } from '../os/identity.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { pickPort } from '../ports/auto.js';
import { type PortScanner, systemScanner } from '../ports/scan.js';
import { type SpawnedService, spawnService } from '../process/spawn.js';
import { type StopReport, stopInstance } from '../process/stop.js';
import { findMarked, type MarkedProcess } from '../process/sweep.js';
import { removeStaleTempFiles } from '../state/files.js';
import { acquireLock } from '../state/lock.js';
import { MARKER_ENV, newInstanceMarker, stackId } from '../state/marker.js';
import {
  ensureStateDir,
  readServiceState,
  removeRecord,
  type ServiceRecord,
  type ServiceState,
  servicePaths,
  updateRecord,
  writeRecord,
} from '../state/record.js';
import { type ClearPortReport, clearPort } from './clear-port.js';

/** Options of {@link startService}. */
export interface StartServiceOptions {
  /**
   * Ports by service name, shared by the whole start: a fixed port is
   * checked, an `'auto'` port is picked (or taken from the running instance's
   * record) and written here.
   */
  readonly ports?: Record<string, number>;
  /** Stop a foreign process that holds the port (`--force`). @default false */
  readonly force?: boolean;
  /**
   * Replace a verified running instance: `'always'` (`--replace`, `restart`),
   * `'if-changed'` (its config hash differs), or `'never'`.
   * @default 'if-changed'
   */
  readonly replace?: 'always' | 'if-changed' | 'never';
  /** Finds who listens on a port (a seam for tests). @default the OS's scanner */
  readonly scanner?: PortScanner;
  /** Restarts before this start, kept in the record for `status`. */
  readonly restarts?: number;
  /**
   * Processes carrying this stack's marker, from a scan made before the lock
   * was taken (one scan for a whole `up`). Used only if the lock was free at
   * the first try, so no launcher can have left a leftover since; otherwise,
   * and without it, the service's leftovers are found by a fresh scan.
   */
  readonly candidates?: readonly MarkedProcess[];
  /** Ports an `'auto'` pick must not return (lost to bind races before). */
  readonly avoidPorts?: readonly number[];
  /** Picks a port for `'auto'` (a seam for tests). @default get-port */
  readonly pickPort?: (exclude: readonly number[]) => Promise<number>;
  readonly inspector?: ProcessInspector;
  /** Longest wait for another launcher's lock, in ms. @default 15000 */
  readonly lockTimeout?: number;
  /** Foreground output (see `spawnService`). */
  readonly tee?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  readonly baseEnv?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  /** Writes the record (a seam for tests of the rollback). @default writeRecord */
  readonly writeRecord?: typeof writeRecord;
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
  | { readonly kind: 'already-running'; readonly record: ServiceRecord };

/** Clears what a previous start left behind; throws if it cannot be cleared safely. */
function clearState(config: ResolvedConfig, name: string, state: ServiceState): string | undefined {
  const paths = servicePaths(config.pidDir, name);
  switch (state.kind) {
    case 'none':
    case 'running':
      return undefined;
    case 'stale':
      removeRecord(config.pidDir, state.record, name);
      return `removed the stale record of ${name} (pid ${state.pid}, ${state.reason})`;
    case 'reused':
      removeRecord(config.pidDir, state.record, name);
      return `removed the record of ${name}: pid ${state.record.pid} now belongs to another process (not signalled)`;
    case 'corrupt': {
      const aside = `${state.file}.corrupt`;
      renameSync(state.file, aside); // kept for inspection, never deleted
      return `moved the corrupt file ${state.file} aside to ${aside} (${state.reason})`;
    }
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
  }
}

/**
 * Starts one service exactly once, safe against any number of concurrent
 * launchers: under the service's lock it reads and verifies the state, keeps a
 * verified running instance, clears stale or corrupt state, stops leftovers of
 * earlier instances (found by their marker), spawns, and writes the record. If
 * the record cannot be written, the spawned tree is stopped again: no process
 * is left running without a record. Readiness is the caller's next step.
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
  removeStaleTempFiles(config.pidDir);
  const paths = servicePaths(config.pidDir, name);
  const lock = await acquireLock(paths.lock, name, {
    inspector,
    ...(options.lockTimeout === undefined ? {} : { timeout: options.lockTimeout }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  try {
    faultPoint('after-lock');
    const ports = options.ports ?? {};
    const stack = stackId(config.name, config.file);
    const replaced: StopReport[] = [];
    let state = readServiceState(config.pidDir, name, inspector);
    if (state.kind === 'running') {
      const policy = options.replace ?? 'if-changed';
      const keep =
        policy === 'never' ||
        (policy === 'if-changed' && state.record.configHash === svc.configHash);
      if (keep) {
        const own = state.record.ports[name];
        if (own !== undefined) ports[name] = own;
        return { kind: 'already-running', record: state.record };
      }
      replaced.push(
        await stopInstance(
          { ...state.record, recorded: true },
          {
            inspector,
            signal: svc.stopSignal,
            timeout: svc.stopTimeout,
          },
        ),
      );
      removeRecord(config.pidDir, state.record, name);
      state = { kind: 'none' };
    }
    const cleared = [clearState(config, name, state)].filter((c): c is string => c !== undefined);
    const leftovers =
      lock.fresh && options.candidates !== undefined
        ? options.candidates.filter(
            (m) =>
              m.service === name &&
              inspector.environ(m.info.pid, MARKER_ENV) === m.marker &&
              identityOf(m.info.pid, inspector)?.startTime === m.info.startTime,
          )
        : findMarked({ stack, service: name }, inspector);
    for (const leftover of leftovers) {
      if (replaced.some((r) => r.survivors.includes(leftover.info.pid))) continue;
      replaced.push(
        await stopInstance(
          {
            ...leftoverTarget(
              leftover.info.pid,
              leftover.info.pgid,
              leftover.marker,
              name,
              inspector,
            ),
          },
          { inspector, signal: svc.stopSignal, timeout: svc.stopTimeout },
        ),
      );
    }
    const portReport = await preparePort(svc, ports, stack, inspector, options);
    const marker = newInstanceMarker(stack, name);
    const spawned = await spawnService(svc, {
      marker,
      ports,
      logFile: paths.log,
      ...(options.tee === undefined ? {} : { tee: options.tee }),
      ...(options.baseEnv === undefined ? {} : { baseEnv: options.baseEnv }),
    });
    faultPoint('after-spawn');
    const looked = inspector.lookup(spawned.pid);
    const record: ServiceRecord = {
      version: 1,
      service: name,
      stack,
      pid: spawned.pid,
      pgid: spawned.pgid,
      startTime: looked.kind === 'alive' ? looked.info.startTime : '',
      bootId: inspector.bootId(),
      pidNamespace: inspector.pidNamespace(),
      command: svc.argv,
      cwd: svc.cwd,
      ports: { ...ports },
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
    } catch (error) {
      // Roll back: a process without a record is exactly what launchguard exists to prevent.
      await stopInstance(
        { ...record, recorded: true },
        { inspector, signal: svc.stopSignal, timeout: svc.stopTimeout },
      );
      throw error;
    }
    if (spawned.logNote !== undefined) cleared.push(spawned.logNote);
    return { kind: 'started', record, spawned, replaced, cleared, port: portReport };
  } finally {
    lock.release();
  }
}

function leftoverTarget(
  pid: number,
  pgid: number,
  instance: string,
  service: string,
  inspector: ProcessInspector,
) {
  const looked = inspector.lookup(pid);
  return {
    service,
    pid,
    pgid,
    instance,
    startTime: looked.kind === 'alive' ? looked.info.startTime : '',
    bootId: inspector.bootId(),
    pidNamespace: inspector.pidNamespace(),
  };
}

/**
 * The port pre-flight, under the service's lock: a fixed port must be free or
 * held by an earlier instance (stopped here) or, with force, by a foreign
 * process; an `'auto'` port is picked until a free one is found.
 */
async function preparePort(
  svc: ResolvedService,
  ports: Record<string, number>,
  stack: string,
  inspector: ProcessInspector,
  options: StartServiceOptions,
): Promise<ClearPortReport> {
  if (svc.port === null) return { stopped: [] };
  const scanner = options.scanner ?? systemScanner();
  if (svc.port !== 'auto') {
    ports[svc.name] = svc.port;
    return clearPort(svc, svc.port, { stack, inspector, scanner, force: options.force ?? false });
  }
  const pick = options.pickPort ?? pickPort;
  const tried: number[] = [];
  for (let i = 0; i < 20; i++) {
    const others = Object.entries(ports)
      .filter(([n]) => n !== svc.name)
      .map(([, p]) => p);
    const port = await pick([...others, ...tried, ...(options.avoidPorts ?? [])]);
    if ((await scanner(port)).length === 0) {
      ports[svc.name] = port;
      return { stopped: [] };
    }
    tried.push(port);
  }
  throw new LaunchError(
    'E_PORT_IN_USE',
    `${svc.name}: no free port found for port: 'auto' (tried ${tried.join(', ')})`,
    {
      service: svc.name,
      hint: 'free some ports or give the service a fixed port',
    },
  );
}

/**
 * Marks a recorded instance as ready (`readyAt`), under the service's lock and
 * only if the record on disk is still that instance: a record is never
 * overwritten once another launcher has replaced it.
 */
export async function markReady(
  config: ResolvedConfig,
  record: ServiceRecord,
  inspector: ProcessInspector,
): Promise<ServiceRecord> {
  if (record.readyAt !== undefined) return record;
  const ready = { ...record, readyAt: new Date().toISOString() };
  const lock = await acquireLock(servicePaths(config.pidDir, record.service).lock, record.service, {
    inspector,
  });
  try {
    const now = readServiceState(config.pidDir, record.service, inspector);
    if (now.kind === 'running' && now.record.instance === record.instance) {
      if (now.record.readyAt !== undefined) return now.record;
      updateRecord(config.pidDir, ready);
    }
    return ready;
  } finally {
    lock.release();
  }
}
