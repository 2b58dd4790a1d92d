import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { delay } from '../delay.js';
import { LaunchError } from '../errors.js';
import { formatDuration } from '../format.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { LogFollower, type LogSource } from '../probes/log-follow.js';
import { type ReadyResult, waitReady } from '../probes/runner.js';
import { serviceEnv } from '../process/env.js';
import type { StopTarget } from '../process/stop.js';
import { servicePaths } from '../state/paths.js';
import type { ServiceRecord } from '../state/record.js';
import { readServiceState } from '../state/service-state.js';
import { managedInstance } from './managed.js';
import { checkNames } from './select.js';

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
}

/** No output to read: for checks that do not read it. */
const NO_LOG: LogSource = { read: () => [], tail: () => [], onChange: () => () => undefined };

/**
 * `launchguard wait <service>`: waits until the service's readiness check
 * passes, however it was started (by launchguard, by its systemd unit as the
 * unit's `ExecStartPost=`, by hand). Its answer must come from its process
 * tree when launchguard can tell which that is (a record, or its unit's
 * process); a log check needs launchguard's log file, so only a service
 * launchguard started can be waited on with one. Throws E_NOT_READY at the
 * timeout (exit 1).
 */
export async function waitService(
  config: ResolvedConfig,
  name: string,
  options: WaitOptions = {},
): Promise<ReadyResult> {
  checkNames(config, [name]);
  const svc = config.services[name] as ResolvedService;
  const inspector = systemInspector();
  const started = performance.now();
  const timeout = options.timeout ?? svc.readyTimeout;
  let record = runningRecord(config, name, inspector);
  const managed = record === null ? managedInstance(config, svc, inspector) : null;
  const portKnown = typeof svc.port === 'number' || options.port !== undefined;
  if (record === null && managed === null && (svc.ready?.kind === 'log' || !portKnown)) {
    // Nothing to check yet (its log, or its 'auto' port, comes with a launcher's record):
    // wait for a launcher to start it, e.g. an `up -d` in the background.
    record = await recordFromLauncher(config, name, inspector, started + timeout, options.signal);
    if (record === null) throw notStarted(name, timeout, !portKnown);
  }
  const target = targetOf(name, record, managed, inspector);
  if (svc.ready?.kind === 'log' && record === null) {
    throw new LaunchError(
      'E_USAGE',
      `${name}: its readiness check reads its log, which launchguard keeps only for services it starts`,
      {
        service: name,
        hint: `give ${name} a tcp, http or exec check (ready: { tcp: true }) to wait for it under systemd`,
      },
    );
  }
  const follower =
    record === null
      ? null
      : new LogFollower(servicePaths(config.pidDir, name).log, record.logOffset ?? 0);
  const port =
    record?.ports[name] ?? (typeof svc.port === 'number' ? svc.port : (options.port ?? null));
  try {
    const ready = await waitReady({
      service: name,
      probe: svc.ready,
      port,
      ...(target === undefined ? {} : { target }),
      follower: follower ?? NO_LOG,
      cwd: svc.cwd,
      env: serviceEnv(
        svc,
        record?.ports ?? (port === null ? {} : { [name]: port }),
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

function runningRecord(
  config: ResolvedConfig,
  name: string,
  inspector: ProcessInspector,
): ServiceRecord | null {
  const state = readServiceState(config.pidDir, name, inspector);
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
    if (signal?.aborted)
      throw new LaunchError('E_ABORTED', `${name}: wait aborted`, { service: name });
    const record = runningRecord(config, name, inspector);
    if (record !== null) return record;
  }
}

function notStarted(name: string, timeout: number, autoPort: boolean): LaunchError {
  const what = autoPort
    ? "its port is 'auto', known only once a launcher starts it"
    : 'its readiness check reads the log of a launcher';
  return new LaunchError(
    'E_NOT_READY',
    `${name}: not ready after ${formatDuration(timeout)} (it is not running, and ${what})`,
    {
      service: name,
      hint: `start it with 'launchguard up -d ${name}', or raise --timeout if a launcher is on its way`,
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
