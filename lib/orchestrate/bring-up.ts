import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { isLaunchError } from '../errors.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { LogFollower } from '../probes/log-follow.js';
import { type ReadyResult, saysPortTaken, waitReady } from '../probes/runner.js';
import { serviceEnv } from '../process/env.js';
import { stopInstance, stopOptionsFor } from '../process/stop.js';
import { removeLease } from '../state/lease.js';
import { removeRecord, type ServiceRecord } from '../state/record.js';
import { type StartOutcome, type StartServiceOptions, startService } from './start-service.js';

/** What {@link bringUp} did. */
export interface BringUpResult {
  readonly outcome: StartOutcome;
  readonly record: ServiceRecord;
  readonly ready: ReadyResult;
}

/** Options of {@link bringUp}: those of `startService`, plus when readiness is reached. */
export interface BringUpOptions extends StartServiceOptions {
  /** Called once the instance is spawned, before readiness (for 'started' conditions). */
  readonly onSpawned?: (record: ServiceRecord) => void;
}

/** Bind races lost in a row before an `'auto'` service gives up. */
const AUTO_PORT_TRIES = 3;

function isBindRace(error: unknown): boolean {
  return isLaunchError(error) && error.code === 'E_EXITED' && saysPortTaken(error.details ?? []);
}

/**
 * Starts one service (see `startService`) and waits until it is ready. A
 * service that exits first or is not ready in time is stopped (whole tree)
 * and its record removed before the error is thrown: nothing is left running
 * without a record, and nothing half-started is left with one. An `'auto'`
 * port lost to another process between pick and bind is picked again.
 */
export async function bringUp(
  config: ResolvedConfig,
  name: string,
  options: BringUpOptions = {},
): Promise<BringUpResult> {
  const svc = config.services[name] as ResolvedService;
  const inspector = options.inspector ?? systemInspector();
  const ports = options.ports ?? {};
  const lostPorts: number[] = [];
  for (let round = 1; ; round++) {
    const outcome = await startService(config, name, {
      ...options,
      ports,
      inspector,
      avoidPorts: lostPorts,
    });
    const record = outcome.record;
    options.onSpawned?.(record);
    // systemd runs it, and its unit's own ExecStartPost (`launchguard wait`) decides readiness.
    if (outcome.kind === 'managed') return { outcome, record, ready: { ms: 0, attempts: 0 } };
    try {
      return { outcome, record, ready: await readyOf(svc, outcome, options, inspector) };
    } catch (error) {
      if (options.holder) removeLease(config.pidDir, options.holder, name);
      // An instance another launcher started is its business; ours is rolled back.
      if (outcome.kind !== 'started') throw error;
      await stopInstance({ ...record, recorded: true }, stopOptionsFor(svc, inspector));
      removeRecord(config.pidDir, record, name);
      const lost = lostAutoPort(svc, record, error, round);
      if (lost === null) throw error;
      lostPorts.push(lost);
      delete ports[name];
    }
  }
}

/** The `'auto'` port an instance lost to a bind race, if it should pick another one. */
function lostAutoPort(
  svc: ResolvedService,
  record: ServiceRecord,
  error: unknown,
  round: number,
): number | null {
  const own = record.ports[svc.name];
  if (svc.port !== 'auto' || own === undefined || round >= AUTO_PORT_TRIES) return null;
  return isBindRace(error) ? own : null;
}

/** Waits until the instance `outcome` recorded is ready (its log followed meanwhile). */
async function readyOf(
  svc: ResolvedService,
  outcome: Exclude<StartOutcome, { kind: 'managed' }>,
  options: BringUpOptions,
  inspector: ProcessInspector,
): Promise<ReadyResult> {
  const record = outcome.record;
  const follower = new LogFollower(record.logFile, record.logOffset ?? 0);
  try {
    return await waitReady({
      service: svc.name,
      probe: svc.ready,
      port: record.ports[svc.name] ?? null,
      target: record,
      follower,
      ...(outcome.kind === 'started' ? { exited: outcome.spawned.exit } : {}),
      cwd: svc.cwd,
      env: serviceEnv(svc, record.ports, record.instance, options.baseEnv),
      timeout: svc.readyTimeout,
      inspector,
      logFile: record.logFile,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } finally {
    follower.close();
  }
}
