import { setMaxListeners } from 'node:events';
import { selectForStart } from '../config/select.js';
import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { delay } from '../delay.js';
import { abortedError, isLaunchError, LaunchError } from '../errors.js';
import { describeExit, type ExitInfo } from '../exit.js';
import { verifyIdentity } from '../os/identity.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { phase } from '../phase.js';
import { assertPortClearable, describeHolder } from '../ports/clear-port.js';
import { PortReservations, planPorts } from '../ports/port-plan.js';
import { listenerScanner } from '../ports/scan.js';
import { portEnv } from '../process/env.js';
import { managedInstance, systemctl } from '../process/managed.js';
import type { SpawnedService } from '../process/spawn.js';
import { describeUntouched } from '../process/stop.js';
import { findMarked, type MarkedProcess } from '../process/sweep.js';
import { readCompletion, writeCompletion } from '../state/completion.js';
import { type LeaseHolder, newLeaseHolder } from '../state/lease.js';
import { lockHeld } from '../state/lock.js';
import { stackOf } from '../state/marker.js';
import { servicePaths } from '../state/paths.js';
import { removeRecord, type ServiceRecord } from '../state/record.js';
import { readServiceState } from '../state/service-state.js';
import { type BringUpOptions, type BringUpResult, bringUp } from './bring-up.js';
import type { EventSink } from './events.js';
import { markReady } from './mark-ready.js';
import { pinServices, releaseStack } from './release.js';
import type { StartOutcome } from './start-service.js';
import { changedSince } from './watch.js';

/** Options of {@link upStack}. */
export interface UpOptions {
  /** Services to start, with their dependencies; all when empty. */
  readonly services?: readonly string[];
  /** Stop a foreign process holding a service's port. @default false */
  readonly force?: boolean;
  /** Replace the named services even if they run with the same config (`--replace`, `restart`). */
  readonly replace?: boolean;
  /** Foreground: every output chunk of services this call spawns. */
  readonly tee?: (service: string, chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  readonly signal?: AbortSignal;
  readonly onEvent?: EventSink;
  /**
   * `up -d`, `restart`: the services stay until `down`, whoever else used
   * them. Otherwise (foreground `up`, `run`, `launch()`) this call holds a
   * lease on each service until {@link releaseStack} with `UpResult.holder`:
   * the last live user to release a service stops it.
   * @default false
   */
  readonly detach?: boolean;
  /** The lease holder of this call (a session makes it first). @default a new one */
  readonly holder?: LeaseHolder;
  /**
   * With `detach`: `holder` keeps its leases after the start (the keeper's
   * holder: it keeps the services), instead of giving them back.
   * @default false
   */
  readonly keepLeases?: boolean;
  /** The process table (a fake in unit tests). @default the system's */
  readonly inspector?: ProcessInspector;
  /**
   * Run one-shot tasks again even if they completed with the same config
   * while their dependents run (`run`: a test run starts from a known state).
   * @default false
   */
  readonly rerunTasks?: boolean;
  /** Spawns a service (a seam for unit tests, with a fake `inspector`). @default spawnService */
  readonly spawn?: BringUpOptions['spawn'];
}

/** One service after {@link upStack}. */
export interface ServiceUp {
  readonly name: string;
  /** `started` by this call, `kept` (already running, same config), or a `completed` task. */
  readonly outcome: 'started' | 'kept' | 'completed';
  /** Its record (absent for a task that completed earlier and was not run again). */
  readonly record?: ServiceRecord;
  readonly readyMs: number;
  /** The child, when this call spawned it. */
  readonly spawned?: SpawnedService;
}

/** The result of {@link upStack}. */
export interface UpResult {
  readonly services: readonly ServiceUp[];
  /** Every port of the stack, by service name. */
  readonly ports: Readonly<Record<string, number>>;
  /** `<NAME>_PORT` of every service with a port, for commands run against the stack. */
  readonly env: Readonly<Record<string, string>>;
  /** The lease holder of this call: give the services back with `releaseStack`. */
  readonly holder: LeaseHolder;
}

interface Gate {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function gate(): Gate {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** The conditions a dependent can wait for, per service. */
type Gates = Record<'started' | 'ready' | 'completed', Gate>;

/** Services some selected service waits on with `'completed'`: one-shot tasks. */
function tasksOf(config: ResolvedConfig, names: readonly string[]): Set<string> {
  const tasks = new Set<string>();
  for (const n of names)
    for (const [dep, cond] of Object.entries((config.services[n] as ResolvedService).dependsOn))
      if (cond === 'completed') tasks.add(dep);
  return tasks;
}

function taskError(name: string, exit: ExitInfo, record: ServiceRecord): LaunchError {
  return new LaunchError(
    'E_EXITED',
    `${name}: the task ${describeExit(exit)}; services that wait for it were not started`,
    {
      service: name,
      hint: `see its output in ${record.logFile}`,
    },
  );
}

/** Notes about what a start cleaned up or replaced on the way, in words. */
function startNotes(outcome: StartOutcome): string[] {
  if (outcome.kind !== 'started') return [];
  const notes = outcome.port.stopped.map(
    ({ holder }) =>
      `stopped ${holder.kind === 'foreign' ? 'the foreign holder' : 'an earlier instance'} of port ${holder.port}: ${describeHolder(holder)}`,
  );
  notes.push(...outcome.cleared);
  for (const r of outcome.replaced) {
    notes.push(...r.refused.map((u) => describeUntouched(outcome.record.service, u)));
    if (r.outcome === 'stopped' || r.outcome === 'survivors')
      notes.push(`replaced the earlier instance (pid ${r.pid})`);
  }
  return notes;
}

/** A dependency that failed, or an abort: a consequence of another failure, never the cause. */
function isConsequence(error: unknown): boolean {
  return isLaunchError(error, 'E_ABORTED') || isLaunchError(error, 'E_DEPENDENCY');
}

/** One `upStack` call: the selected services, their gates, and what this call started. */
class StackStart {
  readonly #config: ResolvedConfig;
  readonly #options: UpOptions;
  readonly #inspector: ProcessInspector;
  readonly #emit: EventSink;
  readonly #abort = new AbortController();
  readonly #gates: Map<string, Gates>;
  readonly #tasks: Set<string>;
  readonly #named: Set<string>;
  readonly #candidates: readonly MarkedProcess[];
  readonly holder: LeaseHolder;
  ports: Record<string, number> = {};
  readonly #reservations = new PortReservations();
  readonly results = new Map<string, ServiceUp>();
  /** Started by this call, in start order. */
  readonly mine: string[] = [];
  /** Pinned as they became ready (`detach`): their instance markers, for a rollback. */
  readonly #pinned = new Map<string, string>();
  firstError: unknown;

  constructor(config: ResolvedConfig, names: readonly string[], options: UpOptions) {
    this.#config = config;
    this.#options = options;
    this.#inspector = options.inspector ?? systemInspector();
    this.#emit = options.onEvent ?? (() => undefined);
    this.#named = new Set(options.services?.length ? options.services : names);
    this.#tasks = tasksOf(config, names);
    this.#gates = new Map(
      names.map((n) => [n, { started: gate(), ready: gate(), completed: gate() }] as const),
    );
    // Every service's lock wait, readiness wait and probe listens on this one signal.
    setMaxListeners(0, this.#abort.signal);
    // One scan for leftovers of the whole stack; each start re-checks its own.
    this.#candidates = findMarked({ stack: stackOf(config) }, this.#inspector);
    this.holder = options.holder ?? newLeaseHolder(this.#inspector, stackOf(config));
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Decides every port before the first spawn (see `planPorts`). */
  async planPorts(names: readonly string[]): Promise<void> {
    this.ports = await planPorts(this.#config, names, this.#inspector, this.#reservations);
  }

  /**
   * The whole stack's port pre-flight, before the first spawn: every fixed
   * port of the services about to start must be free, or held by what their
   * start may stop (an earlier instance; with `--force`, a foreign process).
   * Otherwise the `up` fails here: nothing started, nothing stopped. Services
   * systemd runs are left to it. Each start checks its port again, under its lock.
   */
  async preflight(names: readonly string[]): Promise<void> {
    const scanner = listenerScanner(this.#inspector);
    const stack = stackOf(this.#config);
    // One read of the listener tables for the whole stack: a port nobody listens on needs
    // no closer look (200 services read /proc/net/tcp 400 times, 1.3 s, before this).
    const all = this.#inspector.completeListeners ? this.#inspector.listeners() : null;
    const listening = all === null ? null : new Set(all.map((l) => l.port));
    for (const name of names) {
      const svc = this.#config.services[name] as ResolvedService;
      if (typeof svc.port !== 'number') continue;
      const free = listening !== null && !listening.has(svc.port);
      if (managedInstance(this.#config, svc, this.#inspector, this.#candidates, free) !== null)
        continue;
      if (free) continue;
      // Another launcher is starting or stopping it: its port is in flux, and the start's
      // own check under the lock decides.
      if (lockHeld(servicePaths(this.#config.pidDir, name).lock, this.#inspector)) continue;
      await assertPortClearable(svc, svc.port, {
        stack,
        inspector: this.#inspector,
        scanner,
        force: this.#options.force ?? false,
      });
    }
  }

  /** Lets go of ports reserved for services that did not start. */
  releasePorts(): Promise<void> {
    return this.#reservations.releaseAll();
  }

  abort(reason?: unknown): void {
    this.#abort.abort(reason);
  }

  /** Starts one service once its dependencies reach their conditions; never throws. */
  async run(name: string): Promise<void> {
    const g = this.#gates.get(name) as Gates;
    try {
      await this.#waitForDependencies(name);
      if (this.#completedEarlier(name)) {
        // Not run again: it completed with this config, and what waits on it still runs.
        this.results.set(name, { name, outcome: 'completed', readyMs: 0 });
        this.#emit({ type: 'completed', service: name, earlier: true });
        for (const gate of [g.started, g.ready, g.completed]) gate.resolve();
        return;
      }
      const up = await this.#start(name, g);
      phase('ready', name);
      const kept = up.outcome.kind !== 'started';
      // `up -d`: what this call started is pinned in the ready write (one write, not two).
      const pin = this.#options.detach === true && !kept;
      const record = await markReady(this.#config, up.record, this.#inspector, pin);
      if (pin) this.#pinned.set(name, record.instance);
      // A task is reported when it completes: "ready in 0 ms" would say nothing.
      if (!this.#tasks.has(name))
        this.#emit({ type: 'ready', service: name, ms: up.ready.ms, kept });
      g.ready.resolve();
      const spawned = up.outcome.kind === 'started' ? up.outcome.spawned : undefined;
      this.results.set(name, {
        name,
        outcome: kept ? 'kept' : 'started',
        record,
        readyMs: up.ready.ms,
        ...(spawned ? { spawned } : {}),
      });
      if (this.#tasks.has(name)) await this.#completeTask(name, record, spawned, g);
    } catch (error) {
      this.#fail(name, error, g);
    }
  }

  /**
   * True if `name` is a task that completed (exit 0) with its current config
   * and a service that waits on it still runs: `up -d` on a running stack and
   * `restart` of a dependent do not run a migration again. `run`
   * (`rerunTasks`) and a fresh start (`down` forgets completions) do. A task
   * with `rerun: 'on-change'` is not run again while no file it watches
   * changed since, whatever runs (`down` keeps its completion).
   */
  #completedEarlier(name: string): boolean {
    if (!this.#tasks.has(name) || this.#options.rerunTasks === true) return false;
    const stack = stackOf(this.#config);
    const done = readCompletion(this.#config.pidDir, name, stack);
    const svc = this.#config.services[name] as ResolvedService;
    if (done === null || done.code !== 0 || done.configHash !== svc.configHash) return false;
    // Files changed while it ran count too: it may not have seen them.
    if (svc.rerun === 'on-change')
      return changedSince(svc, Date.parse(done.startedAt ?? done.at)) === null;
    return Object.values(this.#config.services).some(
      (s) =>
        s.dependsOn[name] !== undefined &&
        readServiceState(this.#config.pidDir, s.name, this.#inspector, stack).kind === 'running',
    );
  }

  async #waitForDependencies(name: string): Promise<void> {
    const deps = Object.entries((this.#config.services[name] as ResolvedService).dependsOn);
    if (deps.length > 0) {
      this.#emit({ type: 'waiting', service: name, on: deps.map(([d]) => d) });
      try {
        await Promise.all(deps.map(([d, cond]) => this.#gates.get(d)?.[cond].promise));
      } catch {
        const failed = deps.map(([d]) => d).filter((d) => !this.results.has(d));
        const reason = `${failed.join(', ')} did not come up`;
        this.#emit({ type: 'skipped', service: name, reason });
        throw new LaunchError('E_DEPENDENCY', `${name}: not started: ${reason}`, {
          service: name,
        });
      }
    }
    if (this.signal.aborted) {
      this.#emit({ type: 'skipped', service: name, reason: 'the start was aborted' });
      throw abortedError(`${name}: not started`, this.signal, name);
    }
  }

  async #start(name: string, g: Gates): Promise<BringUpResult> {
    this.#emit({ type: 'starting', service: name });
    const tee = this.#options.tee;
    const up = await bringUp(this.#config, name, {
      ports: this.ports,
      inspector: this.#inspector,
      candidates: this.#candidates,
      force: this.#options.force ?? false,
      replace: this.#options.replace && this.#named.has(name) ? 'always' : 'if-changed',
      signal: this.signal,
      holder: this.holder,
      reservations: this.#reservations,
      ...(this.#options.spawn === undefined ? {} : { spawn: this.#options.spawn }),
      ...(tee
        ? { tee: (chunk: Buffer, stream: 'stdout' | 'stderr') => tee(name, chunk, stream) }
        : {}),
      onSpawned: (record) => {
        g.started.resolve();
        this.#emit({ type: 'spawned', service: name, record, kept: false });
      },
      onReplaced: (record) => this.#emit({ type: 'replaced', service: name, record }),
    });
    if (up.outcome.kind === 'started') this.mine.push(name);
    for (const text of startNotes(up.outcome)) this.#emit({ type: 'note', service: name, text });
    if (up.outcome.kind === 'managed') {
      const unit = up.outcome.unit;
      const replace = this.#options.replace && this.#named.has(name);
      const ctl = systemctl(unit, 'restart');
      this.#emit({
        type: 'note',
        service: name,
        text: replace
          ? `runs under systemd as ${unit.unit} (pid ${up.record.pid}): launchguard does not restart it; ${ctl}`
          : `runs under systemd as ${unit.unit} (pid ${up.record.pid}): kept, and left to systemd`,
      });
    }
    return up;
  }

  /** Waits for a one-shot task to exit 0; its record is removed either way. */
  async #completeTask(
    name: string,
    record: ServiceRecord,
    spawned: SpawnedService | undefined,
    g: Gates,
  ): Promise<void> {
    spawned?.child.ref(); // a detached child is unref'd: keep the launcher alive for its exit
    const exit = spawned ? await spawned.exit : await untilGone(record, this.#inspector);
    removeRecord(this.#config.pidDir, record, name);
    if (spawned) {
      const svc = this.#config.services[name] as ResolvedService;
      writeCompletion(this.#config.pidDir, {
        version: 1,
        service: name,
        stack: record.stack,
        configHash: svc.configHash,
        code: exit.code,
        signal: exit.signal,
        at: new Date().toISOString(),
        startedAt: record.startedAt,
      });
    }
    if (exit.code !== 0) throw taskError(name, exit, record);
    this.results.set(name, { ...(this.results.get(name) as ServiceUp), outcome: 'completed' });
    this.#emit({ type: 'completed', service: name });
    g.completed.resolve();
  }

  #fail(name: string, error: unknown, g: Gates): void {
    g.started.reject(error);
    g.ready.reject(error);
    g.completed.reject(error);
    // A dependency that failed, or an abort, is a consequence of another failure.
    const aborted = isConsequence(error);
    // The first real failure wins over the aborts it causes in the others.
    if (this.firstError === undefined || (isConsequence(this.firstError) && !aborted))
      this.firstError = error;
    if (!aborted) this.#emit({ type: 'failed', service: name, error });
    this.abort();
  }

  /**
   * Gives back every service this call took a lease on, for a rollback: what
   * it started is stopped, unless another user holds it by now.
   */
  async rollBack(): Promise<void> {
    const held = [...new Set([...this.mine, ...this.results.keys()])];
    for (const name of held) this.#emit({ type: 'stopping', service: name });
    const results = await releaseStack(this.#config, held, this.holder, {
      inspector: this.#inspector,
      unpin: new Set(this.#pinned.values()),
    });
    for (const r of results.services)
      this.#emit({ type: 'stopped', service: r.service, report: r.stopped ?? null });
  }

  /** `up -d`: every selected service stays until `down`. */
  pin(names: readonly string[]): Promise<void> {
    const keepLeases = this.#options.keepLeases === true;
    // Pinned when ready, and the leases stay: nothing left to do for those.
    const left = keepLeases ? names.filter((n) => !this.#pinned.has(n)) : names;
    return pinServices(this.#config, left, this.holder, this.#inspector, keepLeases);
  }
}

/**
 * Brings up the selected services and their dependencies: each starts the
 * moment its dependencies reach their conditions (`started`, `ready`,
 * `completed`), independent services in parallel. Services already running
 * with the same config are kept. If any service fails, the others are aborted,
 * everything this call started is stopped again (dependents first), and the
 * first failure is thrown: a failed `up` leaves the stack as it found it.
 */
export async function upStack(config: ResolvedConfig, options: UpOptions = {}): Promise<UpResult> {
  const names = selectForStart(config, options.services ?? []);
  if (options.detach && !(options.inspector ?? systemInspector()).canVerify)
    throw detachedUnsupported();
  const run = new StackStart(config, names, options);
  const onOuterAbort = () => run.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort);
  if (options.signal?.aborted) run.abort();
  try {
    await run.planPorts(names);
    await run.preflight(names);
    await Promise.all(names.map((n) => run.run(n)));
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
    await run.releasePorts();
  }
  if (run.firstError !== undefined) {
    await run.rollBack();
    throw run.firstError;
  }
  phase('all-ready');
  if (options.detach) await run.pin(names);
  return {
    services: names.map((n) => run.results.get(n) as ServiceUp),
    ports: { ...run.ports },
    env: portEnv(run.ports),
    holder: run.holder,
  };
}

/**
 * Where process identities cannot be verified (Windows), a service must not
 * outlive the launcher that holds its child handle: nothing could later prove
 * which process it is, so nothing could safely stop it.
 */
function detachedUnsupported(): LaunchError {
  return new LaunchError(
    'E_UNSUPPORTED',
    `detached services are not supported on ${process.platform}: launchguard cannot verify process identities here, so nothing could safely stop them later`,
    {
      hint: "use foreground 'launchguard up' or 'launchguard run -- <command>': they stop the processes they started themselves",
    },
  );
}

/** Waits for a task another launcher started to end; its exit code is not known here. */
async function untilGone(record: ServiceRecord, inspector: ProcessInspector): Promise<ExitInfo> {
  while (verifyIdentity(record, inspector).kind === 'ours') await delay(50);
  return { code: 0, signal: null };
}
