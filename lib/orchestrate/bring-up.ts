import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { isLaunchError, LaunchError } from '../errors.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { LogFollower } from '../probes/log-follow.js';
import { type ReadyResult, saysPortTaken, waitReady } from '../probes/runner.js';
import { adoptDaemon, awaitEscapedDaemon, daemonGone } from '../process/daemon.js';
import { serviceEnv } from '../process/env.js';
import { stopInstance, stopOptionsFor } from '../process/stop.js';
import { removeLease } from '../state/lease.js';
import { portOf, portsOf, removeRecord, type ServiceRecord } from '../state/record.js';
import { serviceHandle, successorOf } from './handle.js';
import { rerecord } from './mark-ready.js';
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
  /** Called when another launcher replaced the instance this start spawned (its successor). */
  readonly onReplaced?: (record: ServiceRecord) => void;
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
    const started = await startService(config, name, {
      ...options,
      ports,
      inspector,
      avoidPorts: lostPorts,
    });
    options.onSpawned?.(started.record);
    // systemd runs it, and its unit's own ExecStartPost (`launchguard wait`) decides readiness.
    if (started.kind === 'managed')
      return { outcome: started, record: started.record, ready: { ms: 0, attempts: 0 } };
    const done = await readyOrRolledBack(config, svc, started, round, inspector, options);
    if (!('lostPort' in done)) return done;
    lostPorts.push(done.lostPort);
    delete ports[name];
  }
}

/**
 * Follows the daemon (with `pidFile`) and waits for readiness; on failure,
 * rolls back what this start spawned and throws, unless another launcher's
 * instance replaced it (then that one is waited for) or an `'auto'` port was
 * lost to a bind race (then it is returned, to pick another).
 */
async function readyOrRolledBack(
  config: ResolvedConfig,
  svc: ResolvedService,
  started: Exclude<StartOutcome, { kind: 'managed' }>,
  round: number,
  inspector: ProcessInspector,
  options: BringUpOptions,
): Promise<BringUpResult | { lostPort: number }> {
  let outcome = started;
  try {
    if (outcome.kind === 'started' && svc.pidFile !== null)
      outcome = await followDaemon(config, svc, outcome, inspector, options);
    return {
      outcome,
      record: outcome.record,
      ready: await readyOf(svc, outcome, options, inspector),
    };
  } catch (error) {
    const replaced = await successorResult(config, svc, outcome, error, inspector, options);
    if (replaced !== null) return replaced;
    if (options.holder) removeLease(config.pidDir, options.holder, svc.name);
    // An instance another launcher started is its business; ours is rolled back.
    if (outcome.kind !== 'started') throw error;
    await rollBack(config, svc, outcome, error, inspector);
    const lost = lostAutoPort(svc, outcome.record, error, round);
    if (lost === null) throw error;
    return { lostPort: lost };
  }
}

/**
 * Stops the instance this start spawned and removes its record. A command
 * that exited 0 before it was ready while a process of this user, started
 * after it, holds the service's port left a daemon behind: that is thrown
 * instead, naming it (it is not stopped: nothing proves it is the service's).
 */
async function rollBack(
  config: ResolvedConfig,
  svc: ResolvedService,
  outcome: Extract<StartOutcome, { kind: 'started' }>,
  error: unknown,
  inspector: ProcessInspector,
): Promise<void> {
  const record = outcome.record;
  await stopInstance({ ...record, recorded: true }, stopOptionsFor(svc, inspector));
  removeRecord(config.pidDir, record, svc.name);
  if (svc.pidFile !== null || !isLaunchError(error, 'E_EXITED')) return;
  const exit = await outcome.spawned.exit;
  if (exit.code !== 0) return;
  const port = portOf(record, svc.name) ?? null;
  const daemon = await awaitEscapedDaemon(port, record.startTime, inspector);
  if (daemon === null) return;
  const command = inspector.cmdline(daemon.pid)?.join(' ') ?? daemon.comm;
  throw new LaunchError(
    'E_EXITED',
    `${svc.name}: its command exited 0 and left a daemon behind: pid ${daemon.pid} (${command}) holds port ${port}; it was not stopped`,
    {
      service: svc.name,
      hint: `launchguard can only follow a daemon it knows: set services.${svc.name}.pidFile to the file the daemon writes its PID to, or run it in the foreground (redis-server --daemonize no; nginx -g 'daemon off;'); stop pid ${daemon.pid} yourself first`,
    },
  );
}

/**
 * With `pidFile`: waits for the command to exit 0 and adopts the daemon whose
 * PID it wrote (see `adoptDaemon`) as the instance: the record names the
 * daemon from then on, readiness is checked against it, and its end is
 * watched by its identity (it is not our child).
 */
async function followDaemon(
  config: ResolvedConfig,
  svc: ResolvedService,
  outcome: Extract<StartOutcome, { kind: 'started' }>,
  inspector: ProcessInspector,
  options: BringUpOptions,
): Promise<Extract<StartOutcome, { kind: 'started' }>> {
  const deadline = performance.now() + svc.readyTimeout;
  const spawned = outcome.spawned;
  const daemon = await adoptDaemon(
    svc,
    spawned.exit,
    outcome.record.startTime,
    inspector,
    deadline,
    options.signal,
  );
  const record = {
    ...outcome.record,
    pid: daemon.pid,
    pgid: daemon.pid,
    startTime: daemon.startTime,
  };
  await rerecord(config, outcome.record, record, inspector);
  const exit = daemonGone(daemon, inspector);
  return { ...outcome, record, spawned: { ...spawned, pid: daemon.pid, pgid: daemon.pid, exit } };
}

/**
 * If another launcher (`restart`, a parallel `up --replace`) replaced the
 * instance this start spawned, its instance is the service now: waits for
 * that one, as for an instance found running. Null if none did.
 */
async function successorResult(
  config: ResolvedConfig,
  svc: ResolvedService,
  outcome: StartOutcome,
  error: unknown,
  inspector: ProcessInspector,
  options: BringUpOptions,
): Promise<BringUpResult | null> {
  if (outcome.kind !== 'started' || !isLaunchError(error, 'E_EXITED')) return null;
  const successor = await successorOf(serviceHandle(config, svc.name), outcome.record.instance, {
    inspector,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (successor === null) return null;
  options.onReplaced?.(successor);
  const kept = { kind: 'already-running', record: successor } as const;
  return { outcome: kept, record: successor, ready: await readyOf(svc, kept, options, inspector) };
}

/** The `'auto'` port an instance lost to a bind race, if it should pick another one. */
function lostAutoPort(
  svc: ResolvedService,
  record: ServiceRecord,
  error: unknown,
  round: number,
): number | null {
  const own = portOf(record, svc.name);
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
      port: portOf(record, svc.name) ?? null,
      target: record,
      follower,
      ...(outcome.kind === 'started' ? { exited: outcome.spawned.exit } : {}),
      cwd: svc.cwd,
      env: () => serviceEnv(svc, portsOf(record), record.instance, options.baseEnv),
      timeout: svc.readyTimeout,
      inspector,
      logFile: record.logFile,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } finally {
    follower.close();
  }
}
