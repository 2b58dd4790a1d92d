import { renameSync } from 'node:fs';
import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import type { ProcessInspector } from '../os/inspector.js';
import {
  describeUntouched,
  markedTarget,
  type StopReport,
  stopInstance,
  stopOptionsFor,
} from '../process/stop.js';
import { leftoversOf, type MarkedProcess } from '../process/sweep.js';
import { removeStaleTempFiles } from '../state/files.js';
import { acquireLock } from '../state/lock.js';
import { stackId } from '../state/marker.js';
import { servicePaths } from '../state/paths.js';
import { removeRecord } from '../state/record.js';
import { readServiceState } from '../state/service-state.js';

/** What stopping one service did, for the report. */
export interface ServiceStopResult {
  readonly service: string;
  /** The recorded instance, stopped (absent if nothing was recorded as running). */
  readonly stopped?: StopReport;
  /** Marked leftovers (no record) that were stopped. */
  readonly orphans: readonly StopReport[];
  /** State cleaned up, in words ("removed the stale record (pid 123, exited)"). */
  readonly cleaned: readonly string[];
  /** Problems that need the user (unverifiable records, survivors). */
  readonly problems: readonly string[];
}

/** Options of {@link stopService}. */
export interface StopServiceOptions {
  readonly inspector: ProcessInspector;
  /** When aborted, SIGKILL at once instead of waiting out stopTimeout (a second Ctrl-C). */
  readonly hurry?: AbortSignal;
  /**
   * Processes carrying one of the service's markers, from a scan the caller
   * made just before (each is re-checked here). Without it, the service's
   * leftovers are found by a /proc scan of its own.
   */
  readonly candidates?: readonly MarkedProcess[];
}

/**
 * Stops one service under its lock: the recorded instance (identity verified,
 * whole tree), then every process still carrying one of its markers, and
 * removes its record. Stale records are removed, corrupt files moved aside to
 * `.corrupt`, unverifiable ones left alone and reported.
 */
export async function stopService(
  config: ResolvedConfig,
  name: string,
  options: StopServiceOptions,
): Promise<ServiceStopResult> {
  const svc = config.services[name] as ResolvedService;
  const { inspector } = options;
  const paths = servicePaths(config.pidDir, name);
  removeStaleTempFiles(config.pidDir);
  const lock = await acquireLock(paths.lock, name, { inspector });
  const ladder = stopOptionsFor(svc, inspector, options);
  const cleaned: string[] = [];
  const problems: string[] = [];
  let stopped: StopReport | undefined;
  try {
    const state = readServiceState(config.pidDir, name, inspector);
    switch (state.kind) {
      case 'running':
        stopped = await stopInstance({ ...state.record, recorded: true }, ladder);
        removeRecord(config.pidDir, state.record, name);
        break;
      case 'stale':
        removeRecord(config.pidDir, state.record, name);
        cleaned.push(`removed the stale record of ${name} (pid ${state.pid}, ${state.reason})`);
        break;
      case 'reused':
        removeRecord(config.pidDir, state.record, name);
        cleaned.push(
          `removed the record of ${name}: pid ${state.record.pid} belongs to another process now (not signalled)`,
        );
        break;
      case 'corrupt':
        renameSync(state.file, `${state.file}.corrupt`);
        cleaned.push(
          `moved the corrupt ${state.file} aside to ${state.file}.corrupt (${state.reason})`,
        );
        break;
      case 'unverifiable':
        problems.push(
          `${name}: pid ${state.pid} cannot be verified (${state.reason}); not signalled, record kept`,
        );
        break;
      case 'none':
        break;
    }
    if (stopped && stopped.outcome === 'survivors')
      problems.push(`${name}: pids ${stopped.survivors.join(', ')} survived SIGKILL`);
    const orphans: StopReport[] = [];
    const stack = stackId(config.name, config.file);
    const seen = new Set<string>();
    const leftovers = leftoversOf({ stack, service: name }, inspector, options.candidates);
    for (const m of leftovers) {
      if (seen.has(m.marker)) continue;
      seen.add(m.marker);
      const report = await stopInstance(markedTarget(m, name, inspector), ladder);
      orphans.push(report);
      if (report.outcome === 'survivors')
        problems.push(`${name}: pids ${report.survivors.join(', ')} survived SIGKILL`);
    }
    for (const r of [...(stopped ? [stopped] : []), ...orphans])
      for (const u of r.refused) problems.push(`${name}: ${describeUntouched(name, u)}`);
    return { service: name, ...(stopped ? { stopped } : {}), orphans, cleaned, problems };
  } finally {
    lock.release();
  }
}
