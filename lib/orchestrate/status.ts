import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { classifyHolder, sameCommand } from '../ports/classify.js';
import { allLinuxListeners, holdersOf, type Listener } from '../ports/listeners.js';
import { type PortUse, systemScanner } from '../ports/scan.js';
import { stackId } from '../process/marker.js';
import { findMarked, type MarkedProcess } from '../process/sweep.js';
import { type ProcessInspector, systemInspector } from '../state/inspector.js';
import { readServiceState, type ServiceState } from '../state/record.js';
import { checkStateDir } from '../state/trust.js';
import { effectiveUid, userName } from '../state/users.js';
import { describeHolder } from './clear-port.js';
import { selectForStart } from './select.js';

/**
 * The state of a service, as `status` shows it.
 * - `running`: verified ours and ready.
 * - `starting`: verified ours, not ready yet (a launcher is waiting for it).
 * - `stale`: recorded, but the process is gone.
 * - `reused`: the recorded PID belongs to another process now.
 * - `corrupt`: the PID file or record cannot be read.
 * - `unverifiable`: recorded in another boot or namespace, or not ours to inspect.
 * - `not running`: nothing recorded.
 */
export type StatusState =
  | 'running'
  | 'starting'
  | 'stale'
  | 'reused'
  | 'corrupt'
  | 'unverifiable'
  | 'not running';

/** One service in `status` (also the `--json` shape; see the README). */
export interface ServiceStatus {
  readonly name: string;
  readonly state: StatusState;
  readonly pid: number | null;
  /** The port: fixed, or the recorded pick of an `'auto'` port (null if none is known). */
  readonly port: number | null;
  /** Who listens on the port: `'self'`, `null` (nobody), or a description of another holder. */
  readonly portOwner: string | null;
  /** True if the service is running and passed its readiness check (and still listens). */
  readonly ready: boolean;
  readonly startedAt: string | null;
  readonly uptimeMs: number | null;
  readonly restarts: number;
  readonly logFile: string | null;
  /** Multiple instances, stale or corrupt files, foreign or systemd-managed port holders. */
  readonly warnings: readonly string[];
}

/** Options of {@link stackStatus}. */
export interface StatusOptions {
  readonly services?: readonly string[];
  readonly inspector?: ProcessInspector;
}

const STATE_NAMES: Record<ServiceState['kind'], StatusState> = {
  none: 'not running',
  running: 'running',
  stale: 'stale',
  reused: 'reused',
  corrupt: 'corrupt',
  unverifiable: 'unverifiable',
};

/**
 * The status of the selected services (all when none are named), read-only:
 * nothing is signalled, nothing is written. One pass over the process table
 * finds every marked process and every copy of a service's command line.
 */
export async function stackStatus(
  config: ResolvedConfig,
  options: StatusOptions = {},
): Promise<ServiceStatus[]> {
  const names = selectForStart(config, options.services ?? []).filter(
    (n) => !options.services?.length || options.services.includes(n),
  );
  const inspector = options.inspector ?? systemInspector();
  checkStateDir(config.pidDir, { create: false }); // records others could write are not shown as truth
  const stack = stackId(config.name, config.file);
  const marked = new Map<string, MarkedProcess[]>();
  const markedPids = new Set<number>();
  for (const m of findMarked({ stack }, inspector)) {
    markedPids.add(m.info.pid);
    marked.set(m.service, [...(marked.get(m.service) ?? []), m]);
  }
  const linux = inspector.platform === 'linux';
  const listeners = linux ? allLinuxListeners() : [];
  const pids = inspector.listPids().filter((p) => p !== process.pid);
  // Command lines are read once for the whole table; a cwd only where the command matches.
  const argvs = new Map(pids.map((p) => [p, inspector.cmdline(p)] as const));
  const out: ServiceStatus[] = [];
  for (const name of names) {
    const svc = config.services[name] as ResolvedService;
    const state = readServiceState(config.pidDir, name, inspector);
    const warnings: string[] = [];
    const record = 'record' in state ? state.record : null;
    const instance = state.kind === 'running' ? state.record.instance : null;
    const mine = (marked.get(name) ?? []).filter((m) => m.marker === instance);
    const me = effectiveUid();
    const strays = (marked.get(name) ?? []).filter((m) => m.marker !== instance);
    const others = strays.filter((m) => me === null || m.info.uid === me);
    for (const m of strays.filter((x) => !others.includes(x)))
      warnings.push(
        `pid ${m.info.pid} (user ${userName(m.info.uid)}) carries ${name}'s marker but belongs to another user; launchguard never stops it`,
      );
    if (others.length > 0) {
      warnings.push(
        `multiple instances: ${others.length} other process(es) carry ${name}'s marker: pid ${others.map((m) => m.info.pid).join(', ')} (stop them with 'launchguard down ${name}')`,
      );
    }
    const tree = new Set([
      ...(record && instance ? [record.pid] : []),
      ...mine.map((m) => m.info.pid),
    ]);
    const copies = pids.filter(
      (p) =>
        !tree.has(p) &&
        !markedPids.has(p) && // processes of this stack's services are never "outside"
        sameCommand(argvs.get(p) ?? null, svc.cwd, svc) &&
        sameCommand(argvs.get(p) ?? null, inspector.cwd(p), svc),
    );
    if (copies.length > 0)
      warnings.push(
        `multiple instances: '${svc.commandText}' also runs outside launchguard: pid ${copies.join(', ')}`,
      );
    if (state.kind === 'stale')
      warnings.push(
        `stale record: pid ${state.pid} ${state.reason}; 'launchguard down ${name}' or the next 'up' removes it`,
      );
    if (state.kind === 'reused')
      warnings.push(
        `stale PID file: pid ${state.record.pid} belongs to another process now (${state.info.comm}); it is never signalled`,
      );
    if (state.kind === 'corrupt') warnings.push(`corrupt ${state.file}: ${state.reason}`);
    if (state.kind === 'unverifiable')
      warnings.push(`pid ${state.pid} cannot be verified: ${state.reason}`);
    const port = svc.port === 'auto' ? (record?.ports[name] ?? null) : svc.port;
    let portOwner: string | null = null;
    let listening = false;
    if (port !== null) {
      const onPort = listeners.filter((l) => l.port === port);
      if (onPort.length > 0 || !linux) {
        const ours =
          onPort.length > 0 && holdersOf(new Set(onPort.map((l) => l.inode)), tree).length > 0;
        if (ours) {
          listening = true;
          portOwner = 'self';
        } else {
          const uses = linux ? usesOf(onPort, pids) : await systemScanner()(port);
          const holder = uses[0];
          if (holder !== undefined) {
            const h = classifyHolder(holder, { stack, service: svc, inspector });
            portOwner =
              h.kind === 'systemd'
                ? `systemd unit ${h.unit} (${describeHolder(h)})`
                : describeHolder(h);
            warnings.push(
              h.kind === 'systemd'
                ? `port ${port} is held by the systemd-managed ${h.unit} (pid ${h.pid}): use systemctl to stop it`
                : h.kind === 'earlier-instance'
                  ? `port ${port} is held by an earlier instance of ${name}: ${describeHolder(h)}`
                  : `port ${port} is held by another process: ${describeHolder(h)}`,
            );
          }
        }
      }
    }
    const running = state.kind === 'running';
    if (running && record?.readyAt !== undefined && port !== null && linux && !listening)
      warnings.push(`running, but its process tree does not listen on port ${port} (any more)`);
    const ready =
      running &&
      record?.readyAt !== undefined &&
      (svc.port === null || port === null || listening || !linux);
    const startedAt = running && record ? record.startedAt : null;
    out.push({
      name,
      state: running && record?.readyAt === undefined ? 'starting' : STATE_NAMES[state.kind],
      pid: record?.pid ?? null,
      port,
      portOwner,
      ready,
      startedAt,
      uptimeMs: startedAt === null ? null : Math.max(0, Date.now() - Date.parse(startedAt)),
      restarts: running ? (record?.restarts ?? 0) : 0,
      logFile: record?.logFile ?? null,
      warnings,
    });
  }
  return out;
}

function usesOf(listeners: readonly Listener[], pids: readonly number[]): PortUse[] {
  const uses: PortUse[] = [];
  for (const l of listeners) {
    const holders = holdersOf(new Set([l.inode]), pids);
    if (holders.length === 0)
      uses.push({ port: l.port, address: l.address, pid: null, uid: l.uid });
    for (const pid of holders) uses.push({ port: l.port, address: l.address, pid, uid: l.uid });
  }
  return uses;
}
