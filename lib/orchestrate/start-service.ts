import { renameSync } from 'node:fs';
import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { LaunchError } from '../errors.js';
import { newInstanceMarker, stackId } from '../process/marker.js';
import { type SpawnedService, spawnService } from '../process/spawn.js';
import { type StopReport, stopInstance } from '../process/stop.js';
import { findMarked } from '../process/sweep.js';
import { removeStaleTempFiles } from '../state/files.js';
import { type ProcessInspector, systemInspector } from '../state/inspector.js';
import { acquireLock } from '../state/lock.js';
import {
  ensureStateDir,
  readServiceState,
  removeRecord,
  type ServiceRecord,
  type ServiceState,
  servicePaths,
  writeRecord,
} from '../state/record.js';

/** Options of {@link startService}. */
export interface StartServiceOptions {
  /** Resolved ports by service name. */
  readonly ports?: Readonly<Record<string, number>>;
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
    const state = readServiceState(config.pidDir, name, inspector);
    if (state.kind === 'running') return { kind: 'already-running', record: state.record };
    const cleared = [clearState(config, name, state)].filter((c): c is string => c !== undefined);
    const stack = stackId(config.name, config.file);
    const replaced: StopReport[] = [];
    for (const leftover of findMarked({ stack, service: name }, inspector)) {
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
    const marker = newInstanceMarker(stack, name);
    const spawned = await spawnService(svc, {
      marker,
      ports: options.ports ?? {},
      logFile: paths.log,
      ...(options.tee === undefined ? {} : { tee: options.tee }),
      ...(options.baseEnv === undefined ? {} : { baseEnv: options.baseEnv }),
    });
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
      ports: options.ports ?? {},
      configHash: svc.configHash,
      instance: marker,
      startedAt: new Date().toISOString(),
      launcherPid: process.pid,
      logFile: paths.log,
    };
    try {
      (options.writeRecord ?? writeRecord)(config.pidDir, record);
    } catch (error) {
      // Roll back: a process without a record is exactly what launchguard exists to prevent.
      await stopInstance(record, { inspector, signal: svc.stopSignal, timeout: svc.stopTimeout });
      throw error;
    }
    return { kind: 'started', record, spawned, replaced, cleared };
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
