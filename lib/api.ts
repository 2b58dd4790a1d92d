import { loadConfig } from './config/load.js';
import type { ResolvedConfig } from './config/types.js';
import { LaunchError } from './errors.js';
import type { DownResult } from './orchestrate/down.js';
import type { EventSink } from './orchestrate/events.js';
import type { ServiceUp } from './orchestrate/up.js';
import { reachableHost } from './query/reach.js';
import { type ServiceStatus, stackStatus } from './query/status.js';
import { openSession } from './session/session.js';
import { assertSettings } from './settings.js';

/** Options of {@link launch}. */
export interface LaunchOptions {
  /** The config file. @default launch.config.* in `cwd` or the nearest parent folder */
  readonly config?: string;
  /** Where to look for the config. @default process.cwd() */
  readonly cwd?: string;
  /** Services to start (with their dependencies). @default all */
  readonly services?: readonly string[];
  /** Aborts the start; everything it began is stopped again. */
  readonly signal?: AbortSignal;
  /** Stop a foreign process that holds a service's port. @default false */
  readonly force?: boolean;
  /** Replace the selected services even if they already run with the same config. @default false */
  readonly replace?: boolean;
  /** Progress events (starting, ready, notes, restarts...). */
  readonly onEvent?: EventSink;
  /**
   * Keep the services running when the host process exits without `stop()`.
   * By default (false) a `launch()` is bound to its host: when the host exits
   * for any reason it can observe (the end of its work, `process.exit()`, an
   * uncaught exception, an unhandled rejection, SIGINT, SIGTERM, SIGHUP),
   * the services it holds get SIGTERM at once, unless another live user
   * still holds them. A host killed with SIGKILL runs no handler: its
   * services carry the stack's marker, and the next `launch()`, `up` or
   * `down` finds them. With `true`, nothing is installed; the services stay
   * until `stop()`, `launchguard down`, or the last of their later users.
   * @default false
   */
  readonly keepAlive?: boolean;
}

/** A running stack, as {@link launch} returns it. */
export interface StackHandle {
  /** The resolved config. */
  readonly config: ResolvedConfig;
  /** Every selected service, with its record and whether this call started it. */
  readonly services: readonly ServiceUp[];
  /** A service's port. Throws for a service without one. */
  port(name: string): number;
  /**
   * `http://127.0.0.1:<port><path>` of a service (`[::1]` if it listens on IPv6
   * loopback only): an address, not `localhost`, whose resolution varies.
   */
  url(name: string, path?: string): string;
  /** `<NAME>_PORT` of every service with a port, for child processes. */
  env(): Record<string, string>;
  /** The services' status now (as `launchguard status --json`). */
  status(): Promise<ServiceStatus[]>;
  /**
   * Gives the services back (dependents first): each is stopped unless
   * another live user (another handle, a `run`, a foreground `up`) still
   * holds it, or `up -d` asked it to stay. The last user out stops it, even
   * if another one started it. Safe to call twice.
   */
  stop(): Promise<DownResult>;
  /** `stop()`, for `await using stack = await launch()` (TypeScript 5.2+). */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts the stack (or the named services and their dependencies) like
 * `launchguard up -d` and resolves once every one is ready. The same engine
 * as the CLI, without process-global side effects: no signal handlers, no
 * output, no `process.exit`. Errors are {@link LaunchError}s.
 *
 * @example
 * // test/global.mjs, in .mocharc: { "require": "test/global.mjs" }
 * import { launch } from 'launchguard';
 * let stack;
 * export async function mochaGlobalSetup() {
 *   stack = await launch({ services: ['backend'] });
 *   process.env.API_URL = stack.url('backend');
 * }
 * export async function mochaGlobalTeardown() {
 *   await stack?.stop();
 * }
 */
export async function launch(options: LaunchOptions = {}): Promise<StackHandle> {
  assertSettings();
  const config = await loadConfig({
    cwd: options.cwd ?? process.cwd(),
    command: 'api',
    ...(options.config === undefined ? {} : { config: options.config }),
  });
  const session = await openSession(config, {
    ...(options.services === undefined ? {} : { services: options.services }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
    force: options.force ?? false,
    replace: options.replace ?? false,
    bindToHost: options.keepAlive !== true,
  });
  const { up } = session;
  // The restart policy, as in foreground `up`, until stop().
  const supervising = new AbortController();
  void session.supervise({
    signal: supervising.signal,
    ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
  });
  const hosts = new Map<string, string>();
  for (const [name, p] of Object.entries(up.ports)) hosts.set(name, await reachableHost(p));
  const stop = (): Promise<DownResult> => {
    supervising.abort();
    return session.release();
  };
  const port = (name: string): number => {
    const found = up.ports[name];
    if (found === undefined) {
      throw new LaunchError('E_USAGE', `service '${name}' has no port in this stack`, {
        hint: `services with a port: ${Object.keys(up.ports).join(', ') || 'none'}`,
      });
    }
    return found;
  };
  return {
    config,
    services: up.services,
    port,
    url: (name, path = '') => `http://${hosts.get(name) ?? '127.0.0.1'}:${port(name)}${path}`,
    env: () => ({ ...up.env }),
    status: () => stackStatus(config, { services: up.services.map((s) => s.name) }),
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}
