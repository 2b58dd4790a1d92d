import { type ChildProcess, spawn } from 'node:child_process';
import { constants, type FSWatcher, lstatSync, openSync, watch, writeSync } from 'node:fs';
import { join } from 'node:path';
import { selectForStart } from '../config/select.js';
import type { ResolvedConfig } from '../config/types.js';
import { isLaunchError, LaunchError } from '../errors.js';
import type { StackEvent } from '../orchestrate/events.js';
import { supervise } from '../orchestrate/supervise.js';
import type { ServiceUp, UpResult } from '../orchestrate/up.js';
import { identityOf } from '../os/identity.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { packageRoot } from '../package-root.js';
import { phase } from '../phase.js';
import { stopInstance } from '../process/stop.js';
import { keeperLog, liveKeeper, removeKeeper, writeKeeper } from '../state/keeper.js';
import { type LeaseHolder, newLeaseHolder, removeLease, writeLease } from '../state/lease.js';
import { acquireLock } from '../state/lock.js';
import { rotateRunningLog } from '../state/logfile.js';
import { LogClock } from '../state/logtimes.js';
import { stackOf } from '../state/marker.js';
import { servicePaths } from '../state/paths.js';
import { updateRecord } from '../state/record.js';
import { readServiceState } from '../state/service-state.js';
import { ensureStateDir } from '../state/trust.js';
import { openSession } from './session.js';

/**
 * The keeper: one process per detached stack (`launchguard keeper <stack>`
 * in `ps`) that keeps it alive and healthy after `up -d` returns.
 *
 * Design (chosen over a watcher of services the CLI started): `up -d` spawns
 * the keeper, and the keeper starts the services through the same session
 * code as every other start, reporting each event and the result back over an
 * IPC channel that the CLI prints; then the CLI exits and the keeper stays.
 * Being the services' parent is what lets it learn each exit *with its code or
 * signal* at once; a watcher of another process's children could only poll
 * for their disappearance. It costs one Node start per `up -d` (see
 * BENCHMARKS.md).
 *
 * - It watches every running detached service of the stack: those it started
 *   (their exit code known), and those it adopted (started by an earlier
 *   keeper, seen gone by their identity). It applies the restart policy with
 *   the same back-off, `maxRestarts` and `minUptime` as foreground `up`.
 * - Only one keeper runs per stack: a new one (the next `up -d`, `restart`)
 *   stops the old one first (SIGTERM, identity verified), which leaves every
 *   service as it is; the new one adopts them.
 * - Its death never touches a service: services lead their own sessions and
 *   write to their log files directly, never through a pipe the keeper reads.
 * - It holds a lease on what it watches, so `down` (which ends every lease)
 *   is never fought: a service `down` stopped is not restarted. It leaves once
 *   nothing is left to watch; `down` also stops it.
 */

/** What `up -d` asks its keeper to start. */
export interface KeeperRequest {
  readonly services: readonly string[];
  readonly force: boolean;
  readonly replace: boolean;
}

/** A LaunchError as it crosses the IPC channel. */
interface WireError {
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
  readonly service?: string;
  readonly details?: readonly string[];
}

/**
 * What the CLI sends: the request, and the config it loaded and checked (the
 * keeper then loads none itself: one load per `up -d`, not two; 4 ms less
 * before the first spawn, measured).
 */
type ToKeeper =
  | { type: 'start'; request: KeeperRequest; config?: ResolvedConfig }
  | { type: 'abort'; reason: string };

/** A keeper spawned by `bin/launchguard.js`, which notes a hello that came before the CLI listened. */
type EarlyKeeper = ChildProcess & { helloSeen?: boolean };
type FromKeeper =
  | { type: 'hello' }
  | { type: 'event'; event: StackEvent }
  | { type: 'done'; up: UpResult }
  | { type: 'failed'; error: WireError };

function toWire(error: unknown): WireError {
  if (isLaunchError(error))
    return {
      code: error.code,
      message: error.message,
      ...(error.hint === undefined ? {} : { hint: error.hint }),
      ...(error.service === undefined ? {} : { service: error.service }),
      details: error.details,
    };
  return { code: 'E_STATE', message: error instanceof Error ? error.message : String(error) };
}

function fromWire(wire: WireError): LaunchError {
  return new LaunchError(wire.code as LaunchError['code'], wire.message, {
    ...(wire.hint === undefined ? {} : { hint: wire.hint }),
    ...(wire.service === undefined ? {} : { service: wire.service }),
    details: wire.details ?? [],
  });
}

/** An event as it crosses the channel: errors as plain objects, no child handles. */
function eventToWire(event: StackEvent): StackEvent {
  if (event.type === 'failed' || event.type === 'restart-failed')
    return { ...event, error: fromWire(toWire(event.error)) };
  return event;
}

/** The result without what cannot cross a process boundary (child handles). */
function upToWire(up: UpResult): UpResult {
  return {
    ...up,
    services: up.services.map(({ spawned: _spawned, ...rest }) => rest),
  };
}

/**
 * The CLI side of `up -d` and `restart`: spawns the stack's keeper, asks it
 * to start the services, relays its events to `onEvent`, and resolves with
 * the result (or rejects with the keeper's error). `signal` aborts the start
 * (the keeper rolls back what it began). The keeper stays when this returns.
 */
export function startThroughKeeper(
  config: ResolvedConfig,
  request: KeeperRequest,
  options: {
    readonly onEvent?: (e: StackEvent) => void;
    readonly signal?: AbortSignal;
    /** A keeper spawned already (by `bin/launchguard.js`, before the code loaded). */
    readonly child?: ChildProcess | undefined;
  },
): Promise<UpResult> {
  ensureStateDir(config.pidDir);
  const child =
    options.child ??
    spawn(
      process.execPath,
      // No V8 flags: the keeper sets its own once loaded (see settleForSupervision there).
      [join(packageRoot(), 'bin', 'launchguard.js'), '-c', config.file, 'keeper'],
      {
        cwd: config.root,
        detached: true,
        stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
        env: { ...process.env, LAUNCHGUARD_KEEPER: '1' },
        // Structured clone: the config crosses with its RegExps (log checks, watch patterns).
        serialization: 'advanced',
      },
    );
  return new Promise<UpResult>((resolve, reject) => {
    let asked = false;
    const ask = () => {
      // A keeper that said hello and died since: its 'exit' and 'disconnect' report it.
      if (asked || !child.connected) return;
      asked = true;
      child.send({ type: 'start', request, config } satisfies ToKeeper);
    };
    let settled = false;
    const finish = (action: () => void) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      if (child.connected) child.disconnect();
      child.unref();
      action();
    };
    const onAbort = () => {
      if (child.connected)
        child.send({ type: 'abort', reason: String(options.signal?.reason) } satisfies ToKeeper);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('message', (message: FromKeeper) => {
      // It listens now: the request cannot be lost.
      if (message.type === 'hello') ask();
      else if (message.type === 'event') options.onEvent?.(message.event);
      else if (message.type === 'done') finish(() => resolve(message.up));
      else finish(() => reject(fromWire(message.error)));
    });
    child.once('error', (error) =>
      finish(() =>
        reject(
          new LaunchError('E_SPAWN', `cannot start the keeper of stack ${config.name}`, {
            cause: error,
            hint: 'check that node can run here',
          }),
        ),
      ),
    );
    // A channel closed without a result: never wait for ever (the keeper, if alive, keeps
    // what it started; `status` shows it). Its last message or its exit may still be on the
    // way ('disconnect' can come first): they have a second to arrive.
    child.once('disconnect', () => {
      setTimeout(
        () =>
          finish(() =>
            reject(
              new LaunchError(
                'E_STATE',
                `the keeper of stack ${config.name} closed its channel before it reported`,
                { hint: `see ${keeperLog(config.pidDir)} and 'launchguard status'` },
              ),
            ),
          ),
        1000,
      ).unref();
    });
    child.once('exit', (code, signal) =>
      finish(() =>
        reject(
          new LaunchError(
            'E_STATE',
            `the keeper of stack ${config.name} ended (${signal ?? `code ${code}`}) before it reported`,
            { hint: `see ${keeperLog(config.pidDir)}` },
          ),
        ),
      ),
    );
    if (options.signal?.aborted) onAbort();
    // It said hello before this code listened (the CLI was still loading).
    if ((child as EarlyKeeper).helloSeen === true) ask();
  });
}

/** What the CLI that spawned a keeper asked for, with the config it loaded. */
export interface KeeperAsk {
  readonly request: KeeperRequest;
  readonly config?: ResolvedConfig;
}

/**
 * The request `up -d` sends: null when started by hand (`launchguard
 * keeper`: adopt what runs), `'none'` when the CLI that spawned it went away
 * without asking (its command failed first). Asked before the keeper loads
 * anything else: the CLI loaded the config already and sends it along.
 */
export function keeperRequest(): Promise<KeeperAsk | null | 'none'> {
  if (process.send === undefined) return Promise.resolve(null);
  const inbox = (globalThis as { [key: symbol]: unknown })[INBOX] as KeeperInbox | undefined;
  if (inbox !== undefined) return fromInbox(inbox);
  return new Promise((resolve) => {
    process.once('message', (message: ToKeeper) =>
      resolve(
        message.type === 'start'
          ? { request: message.request, ...(message.config ? { config: message.config } : {}) }
          : 'none',
      ),
    );
    process.once('disconnect', () => resolve('none'));
    process.send?.({ type: 'hello' } satisfies FromKeeper);
  });
}

/** Where `bin/launchguard.js` keeps what the CLI sent before this code listened. */
const INBOX = Symbol.for('launchguard.keeperInbox');

/** The inbox `bin/launchguard.js` opens when it said hello before loading the code. */
interface KeeperInbox {
  readonly messages: ToKeeper[];
  readonly disconnected: boolean;
  /** Called once at the next message or disconnect. */
  waiting: (() => void) | undefined;
  readonly onMessage: (message: ToKeeper) => void;
  readonly onDisconnect: () => void;
}

/** The request from the inbox (at once, or when it comes); the inbox is closed after it. */
function fromInbox(inbox: KeeperInbox): Promise<KeeperAsk | 'none'> {
  return new Promise((resolve) => {
    const take = () => {
      const message = inbox.messages.shift();
      if (message === undefined && !inbox.disconnected) {
        inbox.waiting = take;
        return;
      }
      process.removeListener('message', inbox.onMessage);
      process.removeListener('disconnect', inbox.onDisconnect);
      resolve(
        message?.type === 'start'
          ? { request: message.request, ...(message.config ? { config: message.config } : {}) }
          : 'none',
      );
    };
    take();
  });
}

function send(message: FromKeeper): void {
  if (process.connected) process.send?.(message);
}

/**
 * Sends the last message and closes the channel once it is written:
 * `disconnect()` right after `send()` dropped a large message (the result of
 * 200 services), and `up -d` then waited for ever.
 */
function sendLast(message: FromKeeper): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || process.send === undefined) return resolve();
    process.send(message, undefined, {}, () => {
      if (process.connected) process.disconnect();
      resolve();
    });
  });
}

/** Stops the stack's keeper if one runs (other than this process); waits for it to end. */
export async function stopKeeper(
  config: ResolvedConfig,
  inspector: ProcessInspector = systemInspector(),
): Promise<number | null> {
  const keeper = liveKeeper(config.pidDir, stackOf(config), inspector);
  if (keeper === null || keeper.pid === process.pid) return null;
  await stopInstance(
    {
      service: 'keeper',
      pid: keeper.pid,
      pgid: keeper.pid,
      instance: '',
      startTime: keeper.startTime,
      bootId: keeper.bootId,
      pidNamespace: keeper.pidNamespace,
    },
    { inspector, timeout: 5_000 },
  );
  return keeper.pid;
}

/**
 * Becomes the stack's keeper: under the keeper lock, stops the keeper that
 * keeps the stack now (it leaves every service as it is) and records this
 * process instead. Keepers still starting services are not recorded yet, so
 * parallel `up -d`s never interrupt each other's start; the last to finish
 * keeps the stack.
 */
async function takeOver(config: ResolvedConfig, inspector: ProcessInspector): Promise<void> {
  const lock = await acquireLock(join(config.pidDir, '.keeper.lock'), 'the keeper', {
    inspector,
    timeout: 30_000,
  });
  try {
    await stopKeeper(config, inspector);
    const me = identityOf(process.pid, inspector);
    if (me !== null)
      writeKeeper(config.pidDir, {
        version: 1,
        ...me,
        stack: stackOf(config),
        startedAt: new Date().toISOString(),
      });
  } finally {
    lock.release();
  }
}

/** True where a keeper can run: where process identities can be verified (not Windows). */
export function keeperSupported(inspector: ProcessInspector = systemInspector()): boolean {
  return inspector.canVerify;
}

/** Every running detached service of the stack, as something to watch. */
function watchable(
  config: ResolvedConfig,
  started: UpResult | null,
  inspector: ProcessInspector,
): ServiceUp[] {
  const stack = stackOf(config);
  const mine = new Map((started?.services ?? []).map((s) => [s.name, s]));
  const ups: ServiceUp[] = [];
  for (const name of Object.keys(config.services)) {
    const own = mine.get(name);
    // What this keeper spawned is watched whatever it is doing now: its exit is heard.
    if (own?.spawned !== undefined && own.outcome === 'started') {
      ups.push(own);
      continue;
    }
    const state = readServiceState(config.pidDir, name, inspector, stack);
    if (state.kind !== 'running' || state.record.detached !== true) continue;
    ups.push({ name, outcome: 'kept', record: state.record, readyMs: 0 });
  }
  return ups;
}

/** Appends what the keeper does to `.pids/.keeper.log` (never through a link). */
function keeperLogger(pidDir: string): (event: StackEvent) => void {
  let fd: number | null = null;
  try {
    fd = openSync(
      keeperLog(pidDir),
      constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW,
      0o600,
    );
  } catch {
    // no log: the keeper keeps all the same
  }
  return (event) => {
    if (fd === null) return;
    try {
      writeSync(fd, describeEvent(event));
    } catch {
      // a full disk: the next line may get through
    }
  };
}

function describeEvent(event: StackEvent): string {
  const at = new Date().toISOString();
  const extra =
    event.type === 'restarting' || event.type === 'exited' || event.type === 'crash-loop'
      ? ` ${JSON.stringify(event.exit)}`
      : event.type === 'restarted'
        ? ` pid ${event.record.pid}`
        : event.type === 'restart-failed'
          ? `: ${event.error instanceof Error ? event.error.message : String(event.error)}`
          : event.type === 'changed'
            ? ` ${event.file}`
            : event.type === 'unhealthy'
              ? ` (${event.reason})`
              : '';
  return `${at} ${event.service}: ${event.type}${extra}\n`;
}

/**
 * The keeper process (`launchguard keeper <stack>`): takes over from an older
 * keeper, starts what `up -d` asked for (if it was started by one), then
 * watches every running detached service until none is left or it is told to
 * stop (SIGTERM: it leaves, the services stay). Resolves to its exit code.
 */
export async function runKeeper(
  config: ResolvedConfig,
  stop: AbortSignal,
  asked: KeeperRequest | null,
): Promise<number> {
  const inspector = systemInspector();
  process.title = `launchguard keeper ${config.name}`;
  ensureStateDir(config.pidDir);
  const holder = newLeaseHolder(inspector, stackOf(config));
  let watched: ServiceUp[] = [];
  // The logs of what `up -d` starts are watched from before the spawns: a line written
  // before the service is ready (the keeper keeps it from then on) gets its time too.
  let logs = asked === null ? null : keepLogsSmall(config, startNames(config, asked));
  try {
    if (asked !== null) {
      const ups = await startAsked(config, asked, holder, inspector, stop);
      if (ups === null) return 1;
      watched = ups;
    } else {
      await takeOver(config, inspector);
      watched = await holdAll(config, watchable(config, null, inspector), holder, inspector);
      logs = keepLogsSmall(
        config,
        watched.map((up) => up.name),
      );
    }
    if (!stop.aborted) await keep(config, watched, holder, inspector, stop);
    return 0;
  } finally {
    logs?.close();
    for (const up of watched) removeLease(config.pidDir, holder, up.name);
    removeKeeper(config.pidDir, process.pid);
  }
}

/** The services a request starts, dependencies included; none if it names an unknown one. */
function startNames(config: ResolvedConfig, asked: KeeperRequest): string[] {
  try {
    return selectForStart(config, asked.services);
  } catch {
    return []; // the start fails with that error, and says so to `up -d`
  }
}

/**
 * Starts what `up -d` asked for, reports the outcome to it, and returns what
 * to keep (null: the start failed, or this keeper could not take over; it
 * ends, and the keeper before, if any, keeps the stack). The session takes
 * its leases with the keeper's own holder, so the services it started need no
 * second lease. The take-over comes after the start, never during it: a
 * keeper stopped mid-start would roll its start back (two `up -d` or
 * `restart` at once).
 */
async function startAsked(
  config: ResolvedConfig,
  asked: KeeperRequest,
  holder: LeaseHolder,
  inspector: ProcessInspector,
  stop: AbortSignal,
): Promise<ServiceUp[] | null> {
  const aborting = new AbortController();
  process.on('message', (m: ToKeeper) => {
    if (m.type === 'abort') aborting.abort(m.reason);
  });
  let leased: readonly string[] = [];
  try {
    const session = await openSession(config, {
      services: asked.services,
      force: asked.force,
      replace: asked.replace,
      detach: true,
      holder,
      keepLeases: true,
      signal: AbortSignal.any([aborting.signal, stop]),
      onEvent: (event) => send({ type: 'event', event: eventToWire(event) }),
    });
    leased = session.up.services.map((s) => s.name);
    // Keeper of the stack, holding what it keeps, before `up -d` returns: `status` right
    // after it names this keeper, and a crash or a `down` right after it is heard.
    await takeOver(config, inspector);
    const ups = watchable(config, session.up, inspector);
    const kept = new Set(ups.map((up) => up.name));
    // The session's leases on what is not kept (a completed task) are given back.
    for (const name of leased) if (!kept.has(name)) removeLease(config.pidDir, holder, name);
    await holdAll(
      config,
      ups.filter((up) => !leased.includes(up.name)),
      holder,
      inspector,
    );
    phase('kept');
    await sendLast({ type: 'done', up: upToWire(session.up) });
    return ups;
  } catch (error) {
    for (const name of leased) removeLease(config.pidDir, holder, name);
    await sendLast({ type: 'failed', error: toWire(error) });
    return null;
  }
}

/** Takes the keeper's lease on each service it keeps (`down` ends them: the keeper hears it). */
async function holdAll(
  config: ResolvedConfig,
  ups: ServiceUp[],
  holder: LeaseHolder,
  inspector: ProcessInspector,
): Promise<ServiceUp[]> {
  await Promise.all(
    ups.map(async (up) => {
      const lock = await acquireLock(servicePaths(config.pidDir, up.name).lock, up.name, {
        inspector,
      });
      try {
        writeLease(config.pidDir, holder, up.name);
      } finally {
        lock.release();
      }
    }),
  );
  return ups;
}

/**
 * Keeps the logs of what it keeps within `logs.maxSize` while the services
 * run: the state folder is watched (inotify, through fs.watch), and a log that
 * changed is rotated in place once it reached its size (see
 * `rotateRunningLog`), at most every 50 ms per log. Each growth is noted for
 * `logs --timestamps` (see `state/logtimes.ts`).
 */
function keepLogsSmall(config: ResolvedConfig, names: readonly string[]): { close(): void } {
  const clocks = new Map<string, LogClock>();
  for (const name of names) {
    const path = join(config.pidDir, `${name}.log`);
    clocks.set(`${name}.log`, new LogClock(path, () => fileSize(path)));
  }
  const last = new Map<string, number>();
  const changed = (file: string | Buffer | null) => {
    const name = typeof file === 'string' ? file : null;
    const clock = name === null ? undefined : clocks.get(name);
    if (name === null || clock === undefined) return;
    clock.seen();
    const now = performance.now();
    if (now - (last.get(name) ?? 0) < 50) return;
    last.set(name, now);
    try {
      const path = join(config.pidDir, name);
      if ((fileSize(path) ?? 0) < config.logs.maxSize) return;
      clock.note();
      rotateRunningLog(path, config.logs.maxSize, config.logs.keep);
    } catch {
      // a full disk or a race with a start's own rotation: the next change tries again
    }
  };
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(config.pidDir, { persistent: false }, (_event, file) => changed(file));
    watcher.on('error', () => undefined);
  } catch {
    // no inotify watch left (ENOSPC): the keeper keeps the services all the same, without
    // rotating their logs while they run or noting when lines were written
  }
  return {
    close: () => {
      watcher?.close();
      for (const clock of clocks.values()) clock.close();
    },
  };
}

/** The size of a regular file at `path` (never through a link), or null. */
function fileSize(path: string): number | null {
  try {
    const stat = lstatSync(path);
    return stat.isFile() ? stat.size : null;
  } catch {
    return null;
  }
}

/** Supervises what it keeps until nothing is left or `stop`. */
async function keep(
  config: ResolvedConfig,
  ups: readonly ServiceUp[],
  holder: LeaseHolder,
  inspector: ProcessInspector,
  stop: AbortSignal,
): Promise<void> {
  if (ups.length === 0) return;
  // Adopted services are watched by unref'd polls: this keeps the keeper itself alive.
  const alive = setInterval(() => undefined, 1 << 30);
  try {
    await supervise(config, ups, {
      signal: stop,
      holder,
      inspector,
      adopt: true,
      onEvent: keeperLogger(config.pidDir),
      // A restarted instance stays until `down`, as the one `up -d` started.
      onRestarted: (up) => {
        if (up.record !== undefined) updateRecord(config.pidDir, { ...up.record, detached: true });
      },
    });
  } finally {
    clearInterval(alive);
  }
  // No pause before the exit: the keeper's log is written synchronously (keeperLogger), and
  // `down` waits for this process to be gone.
}
