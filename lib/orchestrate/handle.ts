import { renameSync } from 'node:fs';
import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import type { ProcessInspector } from '../os/inspector.js';
import { acquireLock, type LockHandle } from '../state/lock.js';
import { stackOf } from '../state/marker.js';
import { type ServicePaths, servicePaths } from '../state/paths.js';
import { removeRecord, type ServiceRecord } from '../state/record.js';
import { otherStackNote, readServiceState, type ServiceState } from '../state/service-state.js';

/**
 * One service of a stack, resolved once: its config entry, its stack id and
 * the paths of its state files. The lifecycle passes this down instead of a
 * name that every layer would turn back into paths and state.
 */
export interface ServiceHandle {
  readonly config: ResolvedConfig;
  readonly svc: ResolvedService;
  readonly name: string;
  /** The stack id (see `stackId`). */
  readonly stack: string;
  readonly paths: ServicePaths;
}

/** The handle of service `name` of `config` (which must have it). */
export function serviceHandle(config: ResolvedConfig, name: string): ServiceHandle {
  return {
    config,
    svc: config.services[name] as ResolvedService,
    name,
    stack: stackOf(config),
    paths: servicePaths(config.pidDir, name),
  };
}

/** What is on disk for the service now, checked against the process table (never signals). */
export function stateOf(h: ServiceHandle, inspector: ProcessInspector): ServiceState {
  return readServiceState(h.config.pidDir, h.name, inspector, h.stack);
}

/**
 * Cleans up a state that names no live instance of this stack, and says what
 * it did: a stale record (its process gone) or a reused one (its PID is
 * another process now, never signalled) is removed, a corrupt file is moved
 * aside to `<file>.corrupt` (kept for inspection, never deleted), another
 * stack's record is left alone. Undefined for anything else (nothing on disk,
 * a running or unverifiable instance: the caller's to decide).
 */
export function clearStale(h: ServiceHandle, state: ServiceState): string | undefined {
  switch (state.kind) {
    case 'stale':
      removeRecord(h.config.pidDir, state.record, h.name);
      return `removed the stale record of ${h.name} (pid ${state.pid}, ${state.reason})`;
    case 'reused':
      removeRecord(h.config.pidDir, state.record, h.name);
      return `removed the record of ${h.name}: pid ${state.record.pid} belongs to another process now (not signalled)`;
    case 'corrupt':
      renameSync(state.file, `${state.file}.corrupt`);
      return `moved the corrupt ${state.file} aside to ${state.file}.corrupt (${state.reason})`;
    case 'other-stack':
      return otherStackNote(h.name, state);
    default:
      return undefined;
  }
}

/**
 * The instance that replaced the one with `marker`, if another launcher
 * replaced it (`restart`, `up --replace`). Such a launcher stops the old
 * instance under the service's lock and records the new one before it lets
 * go, so the answer is read under the lock, once that launcher is done. Null
 * if none did (or the lock cannot be had: the caller goes on as it would).
 */
export async function successorOf(
  h: ServiceHandle,
  marker: string,
  options: { readonly inspector: ProcessInspector; readonly signal?: AbortSignal },
): Promise<ServiceRecord | null> {
  const { inspector } = options;
  let lock: LockHandle;
  try {
    lock = await acquireLock(h.paths.lock, h.name, {
      inspector,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } catch {
    return null;
  }
  try {
    const now = stateOf(h, inspector);
    return now.kind === 'running' && now.record.instance !== marker ? now.record : null;
  } finally {
    lock.release();
  }
}
