import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { LaunchError } from '../errors.js';
import { systemInspector } from '../os/inspector.js';
import { LogFollower, type LogSource } from '../probes/log-follow.js';
import { type ReadyResult, waitReady } from '../probes/runner.js';
import { serviceEnv } from '../process/env.js';
import type { StopTarget } from '../process/stop.js';
import { servicePaths } from '../state/paths.js';
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
  const state = readServiceState(config.pidDir, name, inspector);
  const record = state.kind === 'running' ? state.record : null;
  const managed = record === null ? managedInstance(config, svc, inspector) : null;
  const target: StopTarget | undefined =
    record !== null
      ? { ...record, recorded: true }
      : managed !== null
        ? {
            service: name,
            pid: managed.pid,
            pgid: managed.pgid,
            instance: managed.marker ?? '',
            startTime: managed.startTime,
            bootId: inspector.bootId(),
            pidNamespace: inspector.pidNamespace(),
          }
        : undefined;
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
    return await waitReady({
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
      timeout: options.timeout ?? svc.readyTimeout,
      inspector,
      logFile: servicePaths(config.pidDir, name).log,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } finally {
    follower?.close();
  }
}
