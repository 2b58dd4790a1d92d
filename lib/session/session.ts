import { onExit } from 'signal-exit';
import { selectForStart } from '../config/select.js';
import type { ResolvedConfig } from '../config/types.js';
import type { DownResult } from '../orchestrate/down.js';
import type { EventSink, StackEvent } from '../orchestrate/events.js';
import { releaseNow, releaseStack } from '../orchestrate/release.js';
import { supervise } from '../orchestrate/supervise.js';
import { type ServiceUp, type UpOptions, type UpResult, upStack } from '../orchestrate/up.js';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';
import { type LeaseHolder, newLeaseHolder } from '../state/lease.js';
import { stackOf } from '../state/marker.js';

/**
 * A session: one run's life, the same for every caller (`launch()`,
 * foreground `up`, `run`, `up -d` and `restart`):
 *
 * 1. {@link openSession} binds to the host's exit (when asked) *before* the
 *    first spawn, then starts the services (`upStack`) holding a lease on
 *    each, or pinning them (`detach`).
 * 2. The caller supervises them ({@link Session.supervise}: the restart
 *    policy) or runs its command meanwhile.
 * 3. {@link Session.release} gives every lease back: the last live user of a
 *    service stops it (what `down` took is gone already). It is idempotent,
 *    and it unbinds from the host.
 *
 * An interrupt (`signal`) during the start rolls back what the start began;
 * later, it ends supervision. A host that exits at any moment (the end of its
 * work, `process.exit()`, an uncaught error, SIGINT, SIGTERM, SIGHUP) sends
 * SIGTERM to what this session holds and no other live user holds, also while
 * the services still start.
 */

/** Options of {@link openSession}. */
export interface SessionOptions
  extends Pick<
    UpOptions,
    'services' | 'force' | 'replace' | 'tee' | 'onEvent' | 'detach' | 'rerunTasks' | 'keepLeases'
  > {
  /** Interrupts the start (everything it began is stopped again), then supervision. */
  readonly signal?: AbortSignal;
  /**
   * Bind to the host process's exit (through signal-exit), from before the
   * first spawn until {@link Session.release}. The CLI handles its own
   * signals and leaves this off; `launch()` turns it on unless `keepAlive`.
   * @default false
   */
  readonly bindToHost?: boolean;
  readonly inspector?: ProcessInspector;
  /**
   * Whose leases the session takes (the keeper passes its own and keeps them,
   * see `UpOptions.keepLeases`). @default a new holder for this process
   */
  readonly holder?: LeaseHolder;
}

/** A started session: what it holds, and how to supervise and release it. */
export interface Session {
  readonly config: ResolvedConfig;
  /** What the start brought up: services, ports, `<NAME>_PORT` env, the lease holder. */
  readonly up: UpResult;
  /**
   * Applies the restart policy to the services this session started, until
   * `signal` aborts or none is left running. Resolves to true if one failed
   * for good. Services `launchguard down` took down are not given back later.
   */
  supervise(options: {
    readonly signal: AbortSignal;
    readonly onEvent?: EventSink;
    readonly tee?: UpOptions['tee'];
  }): Promise<boolean>;
  /**
   * Gives every service back (dependents first): each is stopped unless
   * another live user holds it or `up -d` pinned it. `hurry` aborted:
   * SIGKILL what is still stopping. Safe to call twice (the same promise).
   */
  release(options?: { readonly hurry?: AbortSignal }): Promise<DownResult>;
}

/**
 * Binds `release` to the host's exit; returns the unbinding. signal-exit
 * covers the signals (SIGINT, SIGTERM, SIGHUP...) and `process.exit()`; the
 * process's own `exit` event gets the release as its *first* listener too, so
 * that another listener of the host that throws (which ends the emit) cannot
 * keep it from running. It runs once, whichever comes first.
 */
function bindExit(release: () => void): () => void {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    release();
  };
  const removeSignals = onExit(once, { alwaysLast: true });
  process.prependListener('exit', once);
  return () => {
    removeSignals();
    process.removeListener('exit', once);
  };
}

/**
 * Starts a session (see above). Throws what the start threw, after the
 * rollback, with the host binding already removed.
 */
export async function openSession(
  config: ResolvedConfig,
  options: SessionOptions = {},
): Promise<Session> {
  const inspector = options.inspector ?? systemInspector();
  const holder: LeaseHolder = options.holder ?? newLeaseHolder(inspector, stackOf(config));
  const names = selectForStart(config, options.services ?? []);
  // Before the first spawn: a host that ends while services start leaves nothing behind.
  const unbind =
    options.bindToHost === true && options.detach !== true
      ? bindExit(() => releaseNow(config, names, holder, inspector))
      : () => undefined;
  let up: UpResult;
  try {
    up = await upStack(config, {
      ...pick(options),
      holder,
      inspector,
    });
  } catch (error) {
    unbind();
    throw error;
  }
  const takenDown = new Set<string>();
  let releasing: Promise<DownResult> | undefined;
  return {
    config,
    up,
    // Whoever holds a lease last supervises the service: a service this
    // session only kept from a foreground launcher is watched too (by its
    // identity), so it is restarted after that launcher left. Detached
    // services have their keeper. Two supervisors never make two instances:
    // a restart takes the service's lock, and the later one keeps the new instance.
    supervise: ({ signal, onEvent, tee }) =>
      supervise(config, up.services.filter(supervisable), {
        signal,
        holder,
        inspector,
        adopt: true,
        ...(tee === undefined ? {} : { tee }),
        onEvent: (e: StackEvent) => {
          if (e.type === 'taken-down') takenDown.add(e.service);
          onEvent?.(e);
        },
      }),
    release: ({ hurry } = {}) => {
      releasing ??= releaseStack(
        config,
        up.services.map((s: ServiceUp) => s.name).filter((n) => !takenDown.has(n)),
        holder,
        { inspector, ...(hurry === undefined ? {} : { hurry }) },
      ).finally(unbind);
      return releasing;
    },
  };
}

/** Whether a session supervises a service it brought up: not a kept detached one (its keeper does). */
function supervisable(up: ServiceUp): boolean {
  return up.outcome === 'started' || up.record?.detached !== true;
}

/** The options `upStack` takes from a session's. */
function pick(options: SessionOptions): UpOptions {
  const { services, force, replace, tee, onEvent, detach, signal, rerunTasks, keepLeases } =
    options;
  return {
    ...(services === undefined ? {} : { services }),
    ...(force === undefined ? {} : { force }),
    ...(replace === undefined ? {} : { replace }),
    ...(tee === undefined ? {} : { tee }),
    ...(onEvent === undefined ? {} : { onEvent }),
    ...(detach === undefined ? {} : { detach }),
    ...(signal === undefined ? {} : { signal }),
    ...(rerunTasks === undefined ? {} : { rerunTasks }),
    ...(keepLeases === undefined ? {} : { keepLeases }),
  };
}
