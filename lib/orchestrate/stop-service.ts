import { isTask } from '../config/select.js';
import type { ProcessInspector } from '../os/inspector.js';
import { managedInstance, systemctl } from '../process/managed.js';
import {
  describeUntouched,
  markedTarget,
  type StopReport,
  stopInstance,
  stopOptionsFor,
  type WaveMember,
} from '../process/stop.js';
import { leftoversOf, type MarkedProcess, type ProcessTable } from '../process/sweep.js';
import { removeCompletion } from '../state/completion.js';
import { tidyTempFiles } from '../state/files.js';
import { liveKeeper } from '../state/keeper.js';
import { endLeases, type StateListing } from '../state/lease.js';
import { acquireLock } from '../state/lock.js';
import { removeRecord, type ServiceRecord } from '../state/record.js';
import type { ServiceState } from '../state/service-state.js';
import { clearStale, type ServiceHandle, stateOf } from './handle.js';

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
  /**
   * Not stopped because others still use it (PIDs of the live lease holders),
   * or because `up -d` asked it to stay (`pinned`). Only when releasing.
   */
  readonly keptFor?: readonly number[];
  readonly pinned?: boolean;
  /** A one-shot task: nothing to say when it did not run (it is not a service that stopped). */
  readonly task?: boolean;
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
  /** False when the state folder does not exist: only the marker sweep runs. @default true */
  readonly stateDir?: boolean;
  /** A process table shared with the other stops of one `down` (see `processTable`). */
  readonly table?: ProcessTable;
  /**
   * The PID of the stack's keeper (null: none runs), looked up once for all
   * the stops of one `down`; its lease is not reported. @default looked up here
   */
  readonly keeper?: number | null;
  /** The stops begun with this one (see `stopWave`): their signals go out together. */
  readonly wave?: WaveMember;
  /** A listing of the state folder shared with the other stops of one `down`. */
  readonly listing?: StateListing;
  /**
   * Forget how a task with `rerun: 'on-change'` completed (`down <task>`
   * names it): its next start runs it. Other tasks' results are always
   * forgotten. @default false
   */
  readonly forget?: boolean;
}

/** What {@link stopRecorded} adds to: notes, problems, and a record it had to keep. */
interface RecordedResult {
  readonly cleaned: string[];
  readonly problems: string[];
  /** The record of an instance that could not be verified, and the problem that says so. */
  kept?: { readonly record: ServiceRecord; readonly problem: string };
}

/** The recorded instance (`state`): stopped, or its state file cleaned up. Adds to `result`. */
async function stopRecorded(
  h: ServiceHandle,
  state: ServiceState,
  options: StopServiceOptions,
  result: RecordedResult,
): Promise<StopReport | undefined> {
  const { config, name } = h;
  const ladder = stopOptionsFor(h.svc, options.inspector, options);
  switch (state.kind) {
    case 'running': {
      const report = await stopInstance({ ...state.record, recorded: true }, ladder);
      removeRecord(config.pidDir, state.record, name);
      return report;
    }
    case 'unverifiable': {
      // Only a child this launcher spawned and still holds can be stopped (see process/children.ts).
      const report =
        state.record === null
          ? null
          : await stopInstance({ ...state.record, recorded: true }, ladder);
      if (report !== null && state.record !== null && report.outcome !== 'unverifiable') {
        removeRecord(config.pidDir, state.record, name);
        return report;
      }
      const problem = `${name}: pid ${state.pid} cannot be verified (${state.reason}); not signalled, record kept`;
      result.problems.push(problem);
      if (state.record !== null) result.kept = { record: state.record, problem };
      return undefined;
    }
    default: {
      const note = clearStale(h, state);
      if (note !== undefined) result.cleaned.push(note);
      return undefined;
    }
  }
}

/**
 * Stops one service whose lock the caller holds (or that has no state folder):
 * the recorded instance (identity verified, whole tree; `state` as the caller
 * just read it, else read here), then every process still carrying one of its
 * markers, and removes its record. Stale records are removed, corrupt files
 * moved aside to `.corrupt`, unverifiable ones left alone and reported.
 */
export async function stopLocked(
  h: ServiceHandle,
  options: StopServiceOptions,
  state?: ServiceState,
): Promise<ServiceStopResult> {
  const { inspector } = options;
  const name = h.name;
  const recorded: RecordedResult = { cleaned: [], problems: [] };
  const stopped =
    options.stateDir === false
      ? undefined
      : await stopRecorded(h, state ?? stateOf(h, inspector), options, recorded);
  const { cleaned, kept } = recorded;
  let problems = recorded.problems;
  const ladder = stopOptionsFor(h.svc, inspector, options);
  const orphans: StopReport[] = [];
  const seen = new Set<string>();
  for (const m of leftoversOf({ stack: h.stack, service: name }, inspector, options.candidates)) {
    if (seen.has(m.marker)) continue;
    seen.add(m.marker);
    const report = await stopInstance(markedTarget(m, name, inspector), ladder);
    orphans.push(report);
    // The record that could not be verified (written by the other process backend) named
    // this very process, found by its instance's marker and stopped: the record is settled.
    // Kept, it would make every later `down` fail over a process that is gone.
    if (
      kept !== undefined &&
      m.info.pid === kept.record.pid &&
      m.marker === kept.record.instance &&
      report.outcome === 'stopped'
    ) {
      removeRecord(h.config.pidDir, kept.record, name);
      problems = problems.filter((p) => p !== kept.problem);
      cleaned.push(
        `removed the record of ${name} (pid ${m.info.pid}): its process, found by its marker, is stopped`,
      );
    }
  }
  for (const r of [...(stopped ? [stopped] : []), ...orphans]) {
    if (r.outcome === 'survivors')
      problems.push(`${name}: pids ${r.survivors.join(', ')} survived SIGKILL`);
    for (const u of r.refused) problems.push(`${name}: ${describeUntouched(name, u)}`);
  }
  const task = isTask(h.config, name);
  // A stopped stack starts afresh: its tasks run again at the next start (but a task that
  // reruns only on change keeps its result unless named), and no service shows how an
  // instance before the stop ended.
  if (options.stateDir !== false && (h.svc.rerun !== 'on-change' || options.forget === true))
    removeCompletion(h.config.pidDir, name, h.stack);
  return {
    service: name,
    ...(stopped ? { stopped } : {}),
    orphans,
    cleaned,
    problems,
    ...(task ? { task } : {}),
  };
}

/**
 * Adds the systemd unit that runs the service, if one does: `down` leaves it
 * to systemctl. With a shared table (`down`), only its marked processes are
 * looked at here; the holder of its port is looked at once every stop of the
 * stack is done (see `downStack`), with one read of the listener tables.
 */
export function withManaged(
  h: ServiceHandle,
  result: ServiceStopResult,
  options: Pick<StopServiceOptions, 'inspector' | 'candidates' | 'table'>,
): ServiceStopResult {
  const portLater = options.table !== undefined;
  const managed = managedInstance(
    h.config,
    h.svc,
    options.inspector,
    options.candidates,
    portLater,
  );
  if (managed === null) return result;
  const problem = `${h.name}: runs under systemd as ${managed.unit.unit} (pid ${managed.pid}); launchguard never stops it: ${systemctl(managed.unit)}`;
  return { ...result, problems: [...result.problems, problem] };
}

/**
 * Stops one service regardless of who uses it (`down`): under its lock, ends
 * every lease on it, then stops it (see {@link stopLocked}). Without a state
 * folder, only processes carrying its marker are stopped.
 */
export async function stopService(
  h: ServiceHandle,
  options: StopServiceOptions,
): Promise<ServiceStopResult> {
  if (options.stateDir === false) return withManaged(h, await stopLocked(h, options), options);
  const { inspector } = options;
  const name = h.name;
  tidyTempFiles(h.config.pidDir);
  // A full or read-only disk never keeps a service running: without a lock, go ahead.
  const lock = await acquireLock(h.paths.lock, name, { inspector, unwritable: 'proceed' });
  try {
    // The keeper's lease is how it hears of this stop, not a use worth a line.
    const keeper =
      options.keeper === undefined
        ? liveKeeper(h.config.pidDir, h.stack, inspector)?.pid
        : (options.keeper ?? undefined);
    const names = options.listing?.names(lock.takenAt);
    const unasked = new Set(keeper === undefined ? [process.pid] : [process.pid, keeper]);
    const holders = endLeases(h.config.pidDir, name, inspector, h.stack, names, unasked);
    const result = withManaged(h, await stopLocked(h, options), options);
    const notes = [
      ...(lock.unlocked === undefined
        ? []
        : [`stopped ${name} without its lock: ${lock.unlocked}`]),
      ...(holders.length === 0
        ? []
        : [`ended the lease of ${holders.map((p) => `pid ${p}`).join(', ')} on ${name}`]),
    ];
    return notes.length === 0 ? result : { ...result, cleaned: [...result.cleaned, ...notes] };
  } finally {
    lock.release();
  }
}
