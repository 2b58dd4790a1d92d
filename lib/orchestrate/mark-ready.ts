import type { ResolvedConfig } from '../config/types.js';
import type { ProcessInspector } from '../os/inspector.js';
import { acquireLock } from '../state/lock.js';
import { stackOf } from '../state/marker.js';
import { servicePaths } from '../state/paths.js';
import { readRecord, type ServiceRecord, updateRecord, writeRecord } from '../state/record.js';
import { readServiceState } from '../state/service-state.js';

/**
 * Marks a recorded instance as ready (`readyAt`), under the service's lock and
 * only if the record on disk is still that instance: a record is never
 * overwritten once another launcher has replaced it. `pin` marks it detached
 * in the same write (`up -d`: one write per service instead of two; a
 * rollback still stops it, see `ReleaseOptions.unpin`).
 */
export async function markReady(
  config: ResolvedConfig,
  record: ServiceRecord,
  inspector: ProcessInspector,
  pin = false,
): Promise<ServiceRecord> {
  if (record.readyAt !== undefined) return record;
  const ready = {
    ...record,
    readyAt: new Date().toISOString(),
    ...(pin ? { detached: true } : {}),
  };
  const lock = await acquireLock(servicePaths(config.pidDir, record.service).lock, record.service, {
    inspector,
  });
  try {
    const now = readServiceState(config.pidDir, record.service, inspector, stackOf(config));
    if (now.kind === 'running' && now.record.instance === record.instance) {
      if (now.record.readyAt !== undefined) return now.record;
      updateRecord(config.pidDir, ready);
    }
    return ready;
  } finally {
    lock.release();
  }
}

/**
 * Runs `write` with the record on disk, under the service's lock, only while
 * it is still the instance of `record`: a record another launcher wrote since
 * is never overwritten.
 */
async function whileCurrent(
  config: ResolvedConfig,
  record: ServiceRecord,
  inspector: ProcessInspector,
  write: (current: ServiceRecord) => void,
): Promise<void> {
  const lock = await acquireLock(servicePaths(config.pidDir, record.service).lock, record.service, {
    inspector,
  });
  try {
    const current = readRecord(config.pidDir, record.service, inspector.pidMax());
    if (current !== null && !('corrupt' in current) && current.instance === record.instance)
      write(current);
  } finally {
    lock.release();
  }
}

/** Replaces the record of `was` by `now` (the daemon a command left, see `pidFile`). */
export function rerecord(
  config: ResolvedConfig,
  was: ServiceRecord,
  now: ServiceRecord,
  inspector: ProcessInspector,
): Promise<void> {
  return whileCurrent(config, was, inspector, () => writeRecord(config.pidDir, now));
}

/** Records the verdict of the liveness check on the instance. */
export function markHealth(
  config: ResolvedConfig,
  record: ServiceRecord,
  health: 'healthy' | 'unhealthy',
  inspector: ProcessInspector,
): Promise<void> {
  return whileCurrent(config, record, inspector, (current) =>
    updateRecord(config.pidDir, { ...current, health }),
  );
}
