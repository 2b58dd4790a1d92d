import { assertNames } from '../config/select.js';
import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { delay } from '../delay.js';
import { abortedError, LaunchError } from '../errors.js';
import { formatDuration } from '../format.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { classifyHolder } from '../ports/classify.js';
import { describeHolder } from '../ports/clear-port.js';
import { systemScanner } from '../ports/scan.js';
import { LogFollower, type LogSource } from '../probes/log-follow.js';
import { type ReadyResult, waitReady } from '../probes/runner.js';
import { serviceEnv } from '../process/env.js';
import { managedInstance } from '../process/managed.js';
import type { StopTarget } from '../process/stop.js';
import { stackOf } from '../state/marker.js';
import { servicePaths } from '../state/paths.js';
import { portOf, portsOf, type ServiceRecord } from '../state/record.js';
import { readServiceState } from '../state/service-state.js';

/** Options of {@link waitService}. */
export interface WaitOptions {
  /** Longest wait, ms. @default the service's readyTimeout */
  readonly timeout?: number;
  /**
   * The port of a `port: 'auto'` service no launcher started (in a unit's
   * `ExecStartPost=`, the unit's `PORT`).
   */
  readonly port?: number;
  readonly signal?: AbortSignal;
  /**
   * A log check reads the service's log from its beginning, and may be used
   * on a service no launcher started: an exported unit appends the service's
   * output to launchguard's log, which its `ExecStartPre=` emptied first.
   */
  readonly fromStart?: boolean;
  /** The process table (a fake in unit tests). @default the system's */
  readonly inspector?: ProcessInspector;
}

/** No output to read: for checks that do not read it. */
const NO_LOG: LogSource = { read: () => [], tail: () => [], onChange: () => () => undefined };

/**
 * `launchguard wait <service>`: waits until the service's readiness check
 * passes, started by a launcher or by its systemd unit (as the unit's
 * `ExecStartPost=`). Its answer must come from its process tree (the
 * record's, or its unit's process), as a start's readiness must: a listener
 * that is not the service's never makes `wait` succeed. With neither yet,
 * it waits for a launcher to start it; at the timeout it fails saying who
 * holds the port, if anyone. A log check needs launchguard's log file, so
 * only a service launchguard started can be waited on with one. Throws
 * E_NOT_READY at the timeout (exit 1).
 */
export async function waitService(
  config: ResolvedConfig,
  name: string,
  options: WaitOptions = {},
): Promise<ReadyResult> {
  assertNames(config, [name]);
  const svc = config.services[name] as ResolvedService;
  const inspector = options.inspector ?? systemInspector();
  const started = performance.now();
  const timeout = options.timeout ?? svc.readyTimeout;
  const { record, managed } = await instanceOf(config, svc, inspector, timeout, options);
  const target = targetOf(name, record, managed, inspector);
  if (svc.ready?.kind === 'log' && record === null && options.fromStart !== true) {
    throw new LaunchError(
      'E_USAGE',
      `${name}: its readiness check reads its log, which launchguard keeps only for services it starts`,
      {
        service: name,
        hint: `under systemd, an exported unit waits with --from-start (launchguard export systemd); or give ${name} a tcp, http or exec check`,
      },
    );
  }
  const follower =
    record === null
      ? options.fromStart === true
        ? new LogFollower(servicePaths(config.pidDir, name).log, 0)
        : null
      : new LogFollower(servicePaths(config.pidDir, name).log, record.logOffset ?? 0);
  const port = (record && portOf(record, name)) ?? fixedPort(svc, options);
  try {
    const ready = await waitReady({
      service: name,
      probe: svc.ready,
      port,
      ...(target === undefined ? {} : { target }),
      follower: follower ?? NO_LOG,
      cwd: svc.cwd,
      env: () =>
        serviceEnv(
          svc,
          record ? portsOf(record) : port === null ? {} : { [name]: port },
          record?.instance ?? '',
        ),
      timeout,
      spent: performance.now() - started,
      inspector,
      logFile: servicePaths(config.pidDir, name).log,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    return { ...ready, ms: performance.now() - started }; // the whole wait
  } finally {
    follower?.close();
  }
}

/** The port to check for a service no launcher recorded: its own, or `--port`'s. */
function fixedPort(svc: ResolvedService, options: WaitOptions): number | null {
  return typeof svc.port === 'number' ? svc.port : (options.port ?? null);
}

/**
 * The instance to wait for: the recorded one, or the one its systemd unit
 * runs. With neither yet (an answer from anyone else proves nothing), waits
 * for a launcher to start it, e.g. an `up -d` in the background; throws
 * E_NOT_READY at the timeout, naming who holds the port.
 */
async function instanceOf(
  config: ResolvedConfig,
  svc: ResolvedService,
  inspector: ProcessInspector,
  timeout: number,
  options: WaitOptions,
): Promise<{ record: ServiceRecord | null; managed: ReturnType<typeof managedInstance> }> {
  const name = svc.name;
  const record = runningRecord(config, name, inspector);
  const managed = record === null ? managedInstance(config, svc, inspector) : null;
  if (record !== null || managed !== null) return { record, managed };
  const deadline = performance.now() + timeout;
  const started = await recordFromLauncher(config, name, inspector, deadline, options.signal);
  if (started !== null) return { record: started, managed: null };
  const port = fixedPort(svc, options);
  const autoPort = svc.port === 'auto' && options.port === undefined;
  throw notStarted(name, timeout, autoPort, await portHolders(config, svc, port, inspector));
}

function runningRecord(
  config: ResolvedConfig,
  name: string,
  inspector: ProcessInspector,
): ServiceRecord | null {
  const state = readServiceState(config.pidDir, name, inspector, stackOf(config));
  return state.kind === 'running' ? state.record : null;
}

/** How often `wait` looks for a launcher's record of a service that is not running yet, ms. */
const RECORD_POLL = 50;

/** The record of a launcher that starts the service before `deadline`, or null. */
async function recordFromLauncher(
  config: ResolvedConfig,
  name: string,
  inspector: ProcessInspector,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<ServiceRecord | null> {
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return null;
    await delay(Math.min(RECORD_POLL, left));
    if (signal?.aborted) throw abortedError(`${name}: wait interrupted`, signal, name);
    const record = runningRecord(config, name, inspector);
    if (record !== null) return record;
  }
}

/** Who holds `port` now, described for a message (none: an empty list). */
async function portHolders(
  config: ResolvedConfig,
  svc: ResolvedService,
  port: number | null,
  inspector: ProcessInspector,
): Promise<string[]> {
  if (port === null) return [];
  const uses = await systemScanner(inspector)(port);
  return uses.map((use) =>
    describeHolder(classifyHolder(use, { stack: stackOf(config), service: svc, inspector })),
  );
}

function notStarted(
  name: string,
  timeout: number,
  autoPort: boolean,
  holders: readonly string[],
): LaunchError {
  const why = autoPort
    ? "its port is 'auto', known only once a launcher starts it"
    : holders.length > 0
      ? `its port is held by ${holders.join('; ')}, which is not ${name}`
      : 'no launcher started it';
  return new LaunchError(
    'E_NOT_READY',
    `${name}: not ready after ${formatDuration(timeout)} (it is not running: ${why})`,
    {
      service: name,
      hint:
        holders.length > 0
          ? `stop that process (or 'launchguard up -d --force ${name}'), then start ${name} with 'launchguard up -d ${name}'`
          : `start it with 'launchguard up -d ${name}', or raise --timeout if a launcher is on its way`,
    },
  );
}

/** Whose answer counts: the recorded instance, the unit's process, or (neither) anyone's. */
function targetOf(
  name: string,
  record: ServiceRecord | null,
  managed: ReturnType<typeof managedInstance>,
  inspector: ProcessInspector,
): StopTarget | undefined {
  if (record !== null) return { ...record, recorded: true };
  if (managed === null) return undefined;
  return {
    service: name,
    pid: managed.pid,
    pgid: managed.pgid,
    instance: managed.marker ?? '',
    startTime: managed.startTime,
    bootId: inspector.bootId(),
    pidNamespace: inspector.pidNamespace(),
  };
}
