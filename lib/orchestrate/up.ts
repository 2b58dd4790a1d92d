import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { isLaunchError, LaunchError } from '../errors.js';
import { describeExit, type ExitInfo } from '../exit.js';
import { verifyIdentity } from '../os/identity.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { portEnv } from '../process/env.js';
import type { SpawnedService } from '../process/spawn.js';
import { describeUntouched } from '../process/stop.js';
import { findMarked } from '../process/sweep.js';
import { stackId } from '../state/marker.js';
import { removeRecord, type ServiceRecord } from '../state/record.js';
import { bringUp } from './bring-up.js';
import { describeHolder } from './clear-port.js';
import type { EventSink } from './events.js';
import { selectForStart } from './select.js';
import { markReady } from './start-service.js';
import { stopService } from './stop-service.js';

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
  readonly inspector?: ProcessInspector;
  readonly baseEnv?: NodeJS.ProcessEnv;
  readonly lockTimeout?: number;
  readonly onEvent?: EventSink;
}

/** One service after {@link upStack}. */
export interface ServiceUp {
  readonly name: string;
  /** `started` by this call, `kept` (already running, same config), or a `completed` task. */
  readonly outcome: 'started' | 'kept' | 'completed';
  readonly record: ServiceRecord;
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
  const named = new Set(options.services?.length ? options.services : names);
  const inspector = options.inspector ?? systemInspector();
  const emit = options.onEvent ?? (() => undefined);
  const tasks = tasksOf(config, names);
  const abort = new AbortController();
  // Every service's lock wait, readiness wait and probe listens on this one signal.
  setMaxListeners(0, abort.signal);
  const onOuterAbort = () => abort.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort);
  if (options.signal?.aborted) abort.abort();
  const gates = new Map(
    names.map((n) => [n, { started: gate(), ready: gate(), completed: gate() }] as const),
  );
  const ports: Record<string, number> = {};
  // One scan for leftovers of the whole stack; each start re-checks its own.
  const candidates = findMarked({ stack: stackId(config.name, config.file) }, inspector);
  const results = new Map<string, ServiceUp>();
  const mine: string[] = []; // started by this call, in start order
  let firstError: unknown;

  const runOne = async (name: string): Promise<void> => {
    const svc = config.services[name] as ResolvedService;
    const g = gates.get(name) as NonNullable<ReturnType<typeof gates.get>>;
    try {
      const deps = Object.entries(svc.dependsOn);
      if (deps.length > 0) {
        emit({ type: 'waiting', service: name, on: deps.map(([d]) => d) });
        try {
          await Promise.all(deps.map(([d, cond]) => gates.get(d)?.[cond].promise));
        } catch {
          const failed = deps.map(([d]) => d).filter((d) => !results.has(d));
          emit({ type: 'skipped', service: name, reason: `${failed.join(', ')} did not come up` });
          throw new LaunchError('E_ABORTED', `${name}: not started`);
        }
      }
      if (abort.signal.aborted) {
        emit({ type: 'skipped', service: name, reason: 'the start was aborted' });
        throw new LaunchError('E_ABORTED', `${name}: not started`);
      }
      emit({ type: 'starting', service: name });
      const tee = options.tee;
      const up = await bringUp(config, name, {
        ports,
        inspector,
        candidates,
        force: options.force ?? false,
        replace: options.replace && named.has(name) ? 'always' : 'if-changed',
        signal: abort.signal,
        ...(options.lockTimeout === undefined ? {} : { lockTimeout: options.lockTimeout }),
        ...(options.baseEnv === undefined ? {} : { baseEnv: options.baseEnv }),
        ...(tee
          ? { tee: (chunk: Buffer, stream: 'stdout' | 'stderr') => tee(name, chunk, stream) }
          : {}),
        onSpawned: (record) => {
          g.started.resolve();
          emit({ type: 'spawned', service: name, record, kept: false });
        },
      });
      const kept = up.outcome.kind === 'already-running';
      if (!kept) mine.push(name);
      if (up.outcome.kind === 'started') {
        for (const { holder } of up.outcome.port.stopped)
          emit({
            type: 'note',
            service: name,
            text: `stopped ${holder.kind === 'foreign' ? 'the foreign holder' : 'an earlier instance'} of port ${holder.port}: ${describeHolder(holder)}`,
          });
        for (const text of up.outcome.cleared) emit({ type: 'note', service: name, text });
        for (const r of up.outcome.replaced) {
          for (const u of r.refused)
            emit({ type: 'note', service: name, text: describeUntouched(name, u) });
          if (r.outcome === 'stopped' || r.outcome === 'survivors')
            emit({
              type: 'note',
              service: name,
              text: `replaced the earlier instance (pid ${r.pid})`,
            });
        }
      }
      const record = await markReady(config, up.record, inspector);
      emit({ type: 'ready', service: name, ms: up.ready.ms, kept });
      g.ready.resolve();
      const spawned = up.outcome.kind === 'started' ? up.outcome.spawned : undefined;
      results.set(name, {
        name,
        outcome: kept ? 'kept' : 'started',
        record,
        readyMs: up.ready.ms,
        ...(spawned ? { spawned } : {}),
      });
      if (tasks.has(name)) {
        spawned?.child.ref(); // a detached child is unref'd: keep the launcher alive for its exit
        const exit = spawned ? await spawned.exit : await untilGone(record, inspector);
        removeRecord(config.pidDir, record, name);
        if (exit.code !== 0) throw taskError(name, exit, record);
        results.set(name, { ...(results.get(name) as ServiceUp), outcome: 'completed' });
        emit({ type: 'completed', service: name });
        g.completed.resolve();
      }
    } catch (error) {
      g.started.reject(error);
      g.ready.reject(error);
      g.completed.reject(error);
      const aborted = isLaunchError(error) && error.code === 'E_ABORTED';
      // The first real failure wins over the aborts it causes in the others.
      const firstWasAbort = isLaunchError(firstError) && firstError.code === 'E_ABORTED';
      if (firstError === undefined || (firstWasAbort && !aborted)) firstError = error;
      if (!aborted) emit({ type: 'failed', service: name, error });
      abort.abort();
    }
  };

  try {
    await Promise.all(names.map(runOne));
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
  if (firstError !== undefined) {
    await stopStarted(config, mine, inspector, emit);
    throw firstError;
  }
  return {
    services: names.map((n) => results.get(n) as ServiceUp),
    ports: { ...ports },
    env: portEnv(ports),
  };
}

/** Stops services this call started, dependents first (reverse start order), for a rollback. */
async function stopStarted(
  config: ResolvedConfig,
  started: readonly string[],
  inspector: ProcessInspector,
  emit: EventSink,
): Promise<void> {
  for (const name of [...started].reverse()) {
    emit({ type: 'stopping', service: name });
    const result = await stopService(config, name, { inspector });
    emit({ type: 'stopped', service: name, report: result.stopped ?? null });
  }
}

/** Waits for a task another launcher started to end; its exit code is not known here. */
async function untilGone(record: ServiceRecord, inspector: ProcessInspector): Promise<ExitInfo> {
  while (verifyIdentity(record, inspector).kind === 'ours') await sleep(50);
  return { code: 0, signal: null };
}
