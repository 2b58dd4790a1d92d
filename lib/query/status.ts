import { isTask, selectForStart } from '../config/select.js';
import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import type { Listener } from '../os/proc.js';
import { effectiveUid, userName } from '../os/users.js';
import { classifyHolder, type PortHolder, sameCommand } from '../ports/classify.js';
import { describeHolder } from '../ports/clear-port.js';
import { type PortUse, systemScanner } from '../ports/scan.js';
import { type ManagedInstance, managedInstance, systemctl } from '../process/managed.js';
import { findMarked, type MarkedProcess } from '../process/sweep.js';
import { type Completion, readCompletion } from '../state/completion.js';
import { liveKeeper } from '../state/keeper.js';
import { liveLeases, stateListing } from '../state/lease.js';
import { stackOf } from '../state/marker.js';
import { servicePaths } from '../state/paths.js';
import { portOf, type ServiceRecord } from '../state/record.js';
import { otherStackNote, readServiceState, type ServiceState } from '../state/service-state.js';
import { assertStateDir } from '../state/trust.js';

/**
 * The state of a service, as `status` shows it.
 * - `running`: verified ours and ready.
 * - `starting`: verified ours, not ready yet (a launcher is waiting for it).
 * - `stale`: recorded, but the process is gone.
 * - `reused`: the recorded PID belongs to another process now.
 * - `corrupt`: the PID file or record cannot be read.
 * - `unverifiable`: recorded in another boot or namespace, or not ours to inspect.
 * - `not running`: nothing recorded.
 * - `completed`: a one-shot task that exited 0 (with the config it has now).
 * - `failed`: a one-shot task whose last run failed (`lastExit` says how).
 */
export type StatusState =
  | 'running'
  | 'starting'
  | 'stale'
  | 'reused'
  | 'corrupt'
  | 'unverifiable'
  | 'not running'
  | 'completed'
  | 'failed';

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
  /** PIDs of the live users holding the service (foreground `up`, `run`, `launch()`). */
  readonly heldBy: readonly number[];
  /** Started or kept by `up -d`: it stays until `down`. */
  readonly detached: boolean;
  /** The systemd unit that runs it (its exported unit), or null: launchguard leaves it to systemd. */
  readonly managedBy: string | null;
  readonly logFile: string | null;
  /** Multiple instances, stale or corrupt files, foreign or systemd-managed port holders. */
  readonly warnings: readonly string[];
  /** CPU of its whole process tree, percent of one core (average since it started), or null. */
  readonly cpu: number | null;
  /** Resident memory of its whole process tree, bytes, or null. */
  readonly rss: number | null;
  /**
   * The liveness check's verdict (`health`): `healthy`, `unhealthy`, `unknown`
   * (no verdict yet, or nobody runs the checks: no keeper), or null without a check.
   */
  readonly health: 'healthy' | 'unhealthy' | 'unknown' | null;
  /**
   * The pid of the stack's keeper (which restarts detached services and runs
   * their checks), or null when none runs.
   */
  readonly keeper: number | null;
  /** How the service (or one-shot task) last ended: `code` or `signal`, and when; or null. */
  readonly lastExit: {
    readonly code: number | null;
    readonly signal: string | null;
    readonly at: string;
  } | null;
}

/** True if a service is as it should be: running and ready, or a task that completed. */
export function isUp(s: ServiceStatus): boolean {
  return (s.state === 'running' && s.ready && s.health !== 'unhealthy') || s.state === 'completed';
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
  'other-stack': 'not running', // for this stack: the record is another's (a warning says whose)
};

/** One pass over the process table, shared by every service's status. */
interface ProcessScan {
  readonly stack: string;
  /** Processes carrying one of the stack's markers, by service. */
  readonly marked: ReadonlyMap<string, readonly MarkedProcess[]>;
  readonly markedPids: ReadonlySet<number>;
  /** Every other process, with its command line (read once). */
  readonly argvs: ReadonlyMap<number, string[] | null>;
  /** Every listening socket, or null where the OS cannot list them. */
  readonly listeners: readonly Listener[] | null;
  /** The state folder's files, listed once for every service's leases. */
  readonly stateNames: readonly string[];
}

function scanProcesses(config: ResolvedConfig, inspector: ProcessInspector): ProcessScan {
  const stack = stackOf(config);
  const marked = new Map<string, MarkedProcess[]>();
  const markedPids = new Set<number>();
  for (const m of findMarked({ stack }, inspector)) {
    markedPids.add(m.info.pid);
    marked.set(m.service, [...(marked.get(m.service) ?? []), m]);
  }
  const pids = inspector.listPids().filter((p) => p !== process.pid);
  // Command lines are read once for the whole table; a cwd only where the command matches.
  const argvs = new Map(pids.map((p) => [p, inspector.cmdline(p)] as const));
  const stateNames = stateListing(config.pidDir).names(0);
  return { stack, marked, markedPids, argvs, listeners: inspector.listeners(), stateNames };
}

/** Warnings about other processes carrying the service's marker. */
function strayWarnings(name: string, strays: readonly MarkedProcess[]): string[] {
  const me = effectiveUid();
  const others = strays.filter((m) => me === null || m.info.uid === me);
  const warnings = strays
    .filter((m) => !others.includes(m))
    .map(
      (m) =>
        `pid ${m.info.pid} (user ${userName(m.info.uid)}) carries ${name}'s marker but belongs to another user; launchguard never stops it`,
    );
  if (others.length > 0)
    warnings.push(
      `multiple instances: ${others.length} other process(es) carry ${name}'s marker: pid ${others.map((m) => m.info.pid).join(', ')} (stop them with 'launchguard down ${name}')`,
    );
  return warnings;
}

/** A warning about copies of the service's command running outside launchguard. */
function copyWarnings(
  svc: ResolvedService,
  scan: ProcessScan,
  tree: ReadonlySet<number>,
  inspector: ProcessInspector,
): string[] {
  const copies = [...scan.argvs.keys()].filter(
    (p) =>
      !tree.has(p) &&
      !scan.markedPids.has(p) && // processes of this stack's services are never "outside"
      sameCommand(scan.argvs.get(p) ?? null, svc.cwd, svc) &&
      sameCommand(scan.argvs.get(p) ?? null, inspector.cwd(p), svc),
  );
  return copies.length === 0
    ? []
    : [
        `multiple instances: '${svc.commandText}' also runs outside launchguard: pid ${copies.join(', ')}`,
      ];
}

/** A warning about what the state files say, if anything is off. */
function stateWarnings(name: string, state: ServiceState): string[] {
  switch (state.kind) {
    case 'stale':
      return [
        `stale record: pid ${state.pid} ${state.reason}; 'launchguard down ${name}' or the next 'up' removes it`,
      ];
    case 'reused':
      return [
        `stale PID file: pid ${state.record.pid} belongs to another process now (${state.info.comm}); it is never signalled`,
      ];
    case 'corrupt':
      return [`corrupt ${state.file}: ${state.reason}`];
    case 'unverifiable':
      return [`pid ${state.pid} cannot be verified: ${state.reason}`];
    case 'other-stack':
      return [otherStackNote(name, state)];
    default:
      return [];
  }
}

/** Who holds a service's port, from the listener table (or a scan where there is none). */
interface PortView {
  readonly owner: string | null;
  /** The service's own tree listens on the port. */
  readonly listening: boolean;
  readonly warning?: string;
}

function holderWarning(name: string, port: number, h: PortHolder): string {
  if (h.kind === 'systemd')
    return `port ${port} is held by the systemd-managed ${h.unit} (pid ${h.pid}): use systemctl to stop it`;
  if (h.kind === 'earlier-instance')
    return `port ${port} is held by an earlier instance of ${name}: ${describeHolder(h)}`;
  return `port ${port} is held by another process: ${describeHolder(h)}`;
}

async function portView(
  svc: ResolvedService,
  port: number | null,
  tree: ReadonlySet<number>,
  scan: ProcessScan,
  inspector: ProcessInspector,
): Promise<PortView> {
  if (port === null) return { owner: null, listening: false };
  const onPort = scan.listeners?.filter((l) => l.port === port) ?? null;
  if (onPort !== null && onPort.length === 0) return { owner: null, listening: false };
  if (onPort !== null && inspector.holders(onPort, tree).length > 0)
    return { owner: 'self', listening: true };
  const uses =
    onPort === null ? await systemScanner(inspector)(port) : usesOf(onPort, scan, inspector);
  const holder = uses[0];
  if (holder === undefined) return { owner: null, listening: false };
  const h = classifyHolder(holder, { stack: scan.stack, service: svc, inspector });
  return {
    owner:
      h.kind === 'systemd' ? `systemd unit ${h.unit} (${describeHolder(h)})` : describeHolder(h),
    listening: false,
    warning: holderWarning(svc.name, port, h),
  };
}

function usesOf(
  listeners: readonly Listener[],
  scan: ProcessScan,
  inspector: ProcessInspector,
): PortUse[] {
  const uses: PortUse[] = [];
  for (const l of listeners) {
    const holders = inspector.holders([l], scan.argvs.keys());
    if (holders.length === 0)
      uses.push({ port: l.port, address: l.address, pid: null, uid: l.uid });
    for (const pid of holders) uses.push({ port: l.port, address: l.address, pid, uid: l.uid });
  }
  return uses;
}

async function serviceStatus(
  config: ResolvedConfig,
  name: string,
  scan: ProcessScan,
  inspector: ProcessInspector,
): Promise<Omit<ServiceStatus, 'keeper'>> {
  const svc = config.services[name] as ResolvedService;
  const state = readServiceState(config.pidDir, name, inspector, stackOf(config));
  const record = 'record' in state ? state.record : null;
  const running = state.kind === 'running';
  // The pass's one listener read says whether anyone listens on its port: a stopped stack of
  // 20 read the tables 40 times more (66 ms; a table with no other socket is read to its end).
  const portFree =
    typeof svc.port === 'number' &&
    inspector.completeListeners &&
    scan.listeners?.some((l) => l.port === svc.port) === false;
  const managed = running
    ? null
    : managedInstance(config, svc, inspector, scan.marked.get(name) ?? [], portFree);
  if (managed !== null) return managedStatus(svc, managed, scan, inspector);
  const live = running ? state.record : null;
  const marked = scan.marked.get(name) ?? [];
  const tree = treeOf(live, marked);
  const warnings = [
    ...strayWarnings(
      name,
      marked.filter((m) => m.marker !== live?.instance),
    ),
    ...copyWarnings(svc, scan, tree, inspector),
    ...stateWarnings(name, state),
  ];
  const port = svc.port === 'auto' ? ((record && portOf(record, name)) ?? null) : svc.port;
  const view = await portView(svc, port, tree, scan, inspector);
  if (view.warning !== undefined) warnings.push(view.warning);
  const verifiable = scan.listeners !== null; // whether "its tree listens" can be checked here
  const readyAt = live?.readyAt;
  if (readyAt !== undefined && port !== null && verifiable && !view.listening)
    warnings.push(`running, but its process tree does not listen on port ${port} (any more)`);
  return {
    name,
    ...endsOf(config, svc, state, readyAt, record),
    pid: record?.pid ?? null,
    port,
    portOwner: view.owner,
    ready: readyAt !== undefined && (port === null || view.listening || !verifiable),
    ...timesOf(running ? record : null),
    heldBy: [
      ...new Set(
        liveLeases(config.pidDir, name, inspector, {
          stack: stackOf(config),
          clean: false,
          names: scan.stateNames,
        }).map((l) => l.pid),
      ),
    ],
    detached: running && record?.detached === true,
    managedBy: null,
    warnings,
    ...usageOf(tree, inspector),
  };
}

/**
 * CPU and memory of a running instance's tree: its leader and every process
 * carrying its marker (all its descendants inherit it), from the process
 * table `status` reads anyway.
 */
function usageOf(
  tree: ReadonlySet<number>,
  inspector: ProcessInspector,
): { cpu: number | null; rss: number | null } {
  const usage = tree.size === 0 ? null : (inspector.usage?.(tree) ?? null);
  return usage === null ? { cpu: null, rss: null } : usage;
}

/** State, log, last exit and health: what a service's instance (or a task's run) came to. */
function endsOf(
  config: ResolvedConfig,
  svc: ResolvedService,
  state: ServiceState,
  readyAt: string | undefined,
  record: ServiceRecord | null,
) {
  const done = readCompletion(config.pidDir, svc.name, stackOf(config));
  const running = state.kind === 'running';
  return {
    state: stateName(state, readyAt, isTask(config, svc.name) ? done : null, svc),
    logFile: record?.logFile ?? (done === null ? null : servicePaths(config.pidDir, svc.name).log),
    lastExit: done === null ? null : { code: done.code, signal: done.signal, at: done.at },
    health:
      svc.health === null
        ? null
        : running
          ? (record?.health ?? 'unknown')
          : ('unknown' as ServiceStatus['health']),
  };
}

/** The state in words; a task that is not running says how it last ended. */
function stateName(
  state: ServiceState,
  readyAt: string | undefined,
  done: Completion | null,
  svc: ResolvedService,
): StatusState {
  if (state.kind === 'running') return readyAt === undefined ? 'starting' : 'running';
  if (state.kind === 'none' && done !== null) {
    if (done.code !== 0 || done.signal !== null) return 'failed';
    return done.configHash === svc.configHash ? 'completed' : 'not running';
  }
  return STATE_NAMES[state.kind];
}

/** The PIDs of a running instance's tree: its leader and the processes with its marker. */
function treeOf(live: ServiceRecord | null, marked: readonly MarkedProcess[]): Set<number> {
  if (live === null) return new Set();
  return new Set([
    live.pid,
    ...marked.filter((m) => m.marker === live.instance).map((m) => m.info.pid),
  ]);
}

/** When a running instance started, how long ago, and its restarts (none for anything else). */
function timesOf(record: ServiceRecord | null) {
  const startedAt = record?.startedAt ?? null;
  return {
    startedAt,
    uptimeMs: startedAt === null ? null : Math.max(0, Date.now() - Date.parse(startedAt)),
    restarts: record?.restarts ?? 0,
  };
}

/** The status of a service that systemd runs (see `managed.ts`): running, its unit named. */
async function managedStatus(
  svc: ResolvedService,
  managed: ManagedInstance,
  scan: ProcessScan,
  inspector: ProcessInspector,
): Promise<Omit<ServiceStatus, 'keeper'>> {
  const marked = scan.marked.get(svc.name) ?? [];
  const tree = new Set([
    managed.pid,
    ...marked.filter((m) => m.marker === managed.marker).map((m) => m.info.pid),
  ]);
  const port = typeof svc.port === 'number' ? svc.port : null;
  const view = await portView(svc, port, tree, scan, inspector);
  const ready = port === null || view.listening || scan.listeners === null;
  return {
    name: svc.name,
    state: 'running',
    pid: managed.pid,
    port,
    portOwner: view.owner,
    ready,
    startedAt: null,
    uptimeMs: null,
    restarts: 0,
    heldBy: [],
    detached: false,
    managedBy: managed.unit.unit,
    lastExit: null,
    ...usageOf(tree, inspector),
    health: svc.health === null ? null : 'unknown',
    logFile: null,
    warnings: [`runs under systemd as ${managed.unit.unit}: '${systemctl(managed.unit)}' stops it`],
  };
}

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
  assertStateDir(config.pidDir); // records others could write are not shown as truth
  const pass = async () => {
    const scan = scanProcesses(config, inspector);
    const keeper = liveKeeper(config.pidDir, scan.stack, inspector)?.pid ?? null;
    const out: ServiceStatus[] = [];
    for (const name of names) {
      const status = await serviceStatus(config, name, scan, inspector);
      // The keeper's lease is how it hears of `down`, not a use: it is shown as `keeper`.
      out.push({ ...status, heldBy: status.heldBy.filter((p) => p !== keeper), keeper });
    }
    return out;
  };
  return inspector.consistent === undefined ? pass() : inspector.consistent(pass);
}
