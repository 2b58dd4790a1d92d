/**
 * The config a user writes in `launch.config.ts`, and the resolved shape the
 * engine works with. Field names `services`, `pidDir`, `command`, `cwd`, `env`,
 * `port`, `ready`, `readyTimeout`, `stopTimeout` and `dependsOn` are fixed by
 * the design contract; unknown keys are errors.
 */

/** Environment variables: name → value. */
export type EnvMap = Readonly<Record<string, string>>;

/**
 * When a dependent may start, relative to one of its dependencies.
 * - `'started'`: the dependency's process has been spawned.
 * - `'ready'`: the dependency passed its readiness check.
 * - `'completed'`: the dependency ran to completion with exit code 0 (a
 *   one-shot task such as a database migration).
 */
export type DependencyCondition = 'started' | 'ready' | 'completed';

/** Whether a service that exits is started again (foreground `up` only). */
export type RestartPolicy = 'no' | 'on-failure' | 'always';

/** Fields shared by every readiness check. */
export interface ProbeOptions {
  /**
   * Longest pause between two attempts, in milliseconds. Attempts start a few
   * milliseconds apart and back off to this cap.
   * @default 100
   */
  interval?: number;
}

/**
 * Ready when a TCP connection to the port succeeds and the listener belongs to
 * the service's own process tree.
 * @example { tcp: true }       // the service's `port`
 * @example { tcp: 5432 }       // another port the service opens
 */
export interface TcpProbe extends ProbeOptions {
  /** `true` for the service's own `port`, or a port number. */
  tcp: true | number;
}

/**
 * Ready when an HTTP GET answers with an expected status.
 * @example { http: '/health' }
 * @example { http: 'http://127.0.0.1:8001/health', status: 204 }
 */
export interface HttpProbe extends ProbeOptions {
  /** A path on the service's port (`/health`) or a full loopback URL. */
  http: string;
  /**
   * Accepted status code(s).
   * @default any 2xx or 3xx
   */
  status?: number | readonly number[];
}

/**
 * Ready when the service prints a matching line on stdout or stderr.
 * @example { log: /listening on/ }
 */
export interface LogProbe extends ProbeOptions {
  /** A substring, or a regular expression tested against each line. */
  log: string | RegExp;
}

/**
 * Ready when a command exits with code 0 (run in the service's cwd and env).
 * @example { exec: 'pg_isready -h 127.0.0.1' }
 */
export interface ExecProbe extends ProbeOptions {
  /** The command, as a string (split like a shell, no shell) or an argv array. */
  exec: string | readonly string[];
}

/** One readiness check. Default: `{ tcp: true }` when the service has a `port`. */
export type ReadyCheck = TcpProbe | HttpProbe | LogProbe | ExecProbe;

/** How often and how strictly a liveness check ({@link HealthCheck}) runs. */
export interface HealthOptions {
  /**
   * Time between two checks, in milliseconds.
   * @default 10000
   */
  interval?: number;
  /**
   * Longest single check, in milliseconds (a hard deadline, as for readiness).
   * @default 5000
   */
  timeout?: number;
  /**
   * Failed checks in a row before the service is unhealthy.
   * @default 3
   */
  failures?: number;
}

/**
 * A liveness check, run while the service runs (foreground `up`, `launch()`,
 * and the keeper of `up -d`): a tcp, http or exec check as for `ready`. After
 * `failures` failures in a row the service is unhealthy (event `unhealthy`,
 * shown in `status`, which exits 3), and restarted if its restart policy is
 * `on-failure` or `always`.
 * @example { http: '/health', interval: 5000 }
 */
export type HealthCheck = (
  | Omit<TcpProbe, 'interval'>
  | Omit<HttpProbe, 'interval'>
  | Omit<ExecProbe, 'interval'>
) &
  HealthOptions;

/** One service of the stack, as written in `launch.config.ts`. */
export interface ServiceConfig {
  /**
   * What to run. A string is split like a shell does (quotes and backslashes
   * work) but runs without a shell, unless `shell: true`; or give an argv array.
   * @example 'node server.js --port 8001'
   * @example ['npm', 'run', 'dev']
   */
  command: string | readonly string[];
  /**
   * Run `command` through the system shell (`/bin/sh -c`, `cmd.exe` on
   * Windows), for pipes, `&&` or globs.
   * @default false
   */
  shell?: boolean;
  /**
   * Working directory, relative to the config file's folder.
   * @default the config file's folder
   */
  cwd?: string;
  /**
   * Extra environment variables, merged over the top-level `env` and env files.
   * @example { NODE_ENV: 'development' }
   */
  env?: Record<string, string>;
  /**
   * Env file(s) (`KEY=value` lines) for this service, relative to the config
   * file's folder; later files win, `env` wins over all of them.
   */
  envFile?: string | readonly string[];
  /**
   * The TCP port the service listens on, 1-65535, or `'auto'` for a free port
   * picked at start. The service gets it as `PORT`; every service and `run`
   * command gets it as `<NAME>_PORT`.
   */
  port?: number | 'auto';
  /**
   * How to tell that the service is ready. A readiness timeout is always a
   * failure. Without a port and without `ready`, a service counts as ready
   * once it has been spawned.
   * @default { tcp: true } when `port` is set
   */
  ready?: ReadyCheck;
  /**
   * How long to wait for readiness, in milliseconds.
   * @default 30000
   */
  readyTimeout?: number;
  /**
   * How long a stop waits after `stopSignal` before it sends SIGKILL to the
   * whole process group, in milliseconds.
   * @default 10000
   */
  stopTimeout?: number;
  /**
   * The signal that asks the service to stop.
   * @default 'SIGTERM'
   */
  stopSignal?: 'SIGTERM' | 'SIGINT' | 'SIGHUP' | 'SIGQUIT' | 'SIGUSR1' | 'SIGUSR2';
  /**
   * Services that must be up first: a list (each must be `'ready'`) or a map
   * from service name to {@link DependencyCondition}.
   * @example ['backend']
   * @example { migrate: 'completed', backend: 'ready' }
   */
  dependsOn?: readonly string[] | Readonly<Record<string, DependencyCondition>>;
  /**
   * Restart policy for foreground `up`.
   * @default 'no'
   */
  restart?: RestartPolicy;
  /**
   * Most restarts in a row before the service is marked failed.
   * @default 5
   */
  maxRestarts?: number;
  /**
   * A restart counts toward `maxRestarts` only if the instance it replaces
   * lived less than this (ms): a service that crashes once an hour is never
   * "crash-looping" (PM2's `min_uptime`).
   * @default 10000
   */
  minUptime?: number;
  /** A liveness check while the service runs (see {@link HealthCheck}). */
  health?: HealthCheck;
  /**
   * For a one-shot task (a service another waits for with `'completed'`):
   * when a start runs it again. `'always'`: at every start of the stack
   * (`down` forgets that it completed). `'on-change'`: only when its config
   * changed, a file it watches (`watch`) changed since it last completed, or
   * it never completed (`down` keeps the result; `down <task>` and `run`
   * forget it): a migration against a database that keeps its data.
   * @default 'always'
   */
  rerun?: 'always' | 'on-change';
  /**
   * Restart the service when a watched file changes (foreground `up`,
   * `launch()`, the keeper of `up -d`); dependents keep running, as with
   * `restart`. Paths or globs (`*`, `**`, `?`) relative to `cwd`;
   * `node_modules`, `.git` and the state folder are always ignored.
   * @example ['src', 'config/*.json']
   * @example { paths: ['src'], ignore: ['src/generated'], debounce: 300 }
   */
  watch?: readonly string[] | WatchOptions;
  /**
   * The command forks a daemon and writes the daemon's PID to this file
   * (relative to `cwd`; systemd's `PIDFile=`, start-stop-daemon's
   * `--pidfile`). launchguard waits for the command to exit 0, reads the PID
   * (its first line, as in postgres's `postmaster.pid`), verifies it (your
   * user, started after the command, alive), and from then on that process is
   * the service: readiness, status and stop follow it.
   * @example 'redis.pid' // redis-server --daemonize yes --pidfile redis.pid
   * @example 'data/postmaster.pid' // pg_ctl -D data -w start
   */
  pidFile?: string;
  /**
   * The container image for `export compose` and `export kubernetes` (used by
   * the exports only; `up` runs the command on this machine). Compose assumes
   * `node:<major>` for a node, npm, npx, pnpm or yarn command; Kubernetes needs
   * one for every service (an image that holds the project).
   * @default none; `node:<the running Node major>` for node-family commands in Compose
   * @example 'postgres:16'
   */
  image?: string;
}

/** The whole stack, as written in `launch.config.ts`. */
export interface UserConfig {
  /**
   * The services, by name. A name is used as a file name: letters, digits,
   * `.`, `_`, `-`, starting with a letter or digit.
   */
  services: Record<string, ServiceConfig>;
  /**
   * Folder for PID files, records, locks and logs, relative to the config file.
   * @default '.pids'
   */
  pidDir?: string;
  /**
   * A name for the stack, used in the instance marker of every process.
   * @default the config folder's name
   */
  name?: string;
  /** Environment variables for every service. */
  env?: Record<string, string>;
  /** Env file(s) for every service, relative to the config file's folder. */
  envFile?: string | readonly string[];
  /**
   * Log files (`<pidDir>/<service>.log`): when a service starts and its log
   * has grown past `maxSize` bytes, it is moved to `<service>.log.1` (older
   * ones shift up, `keep` are kept) and a new one begins. Every instance's
   * output starts with a line `--- started <ISO time> pid <PID> ---`.
   * @default { maxSize: 10485760, keep: 3 }
   * @example { maxSize: 50 * 1024 * 1024, keep: 5 }
   */
  logs?: LogOptions;
}

/** Log rotation; see {@link UserConfig.logs}. */
export interface LogOptions {
  /** Rotate a log at the next start once it is this large, in bytes. @default 10485760 (10 MiB) */
  maxSize?: number;
  /** Rotated logs to keep (`.log.1` is the newest). @default 3 */
  keep?: number;
}

/** What a config function receives. */
export interface ConfigEnv {
  /** The CLI command being run (`up`, `down`, `status`, `run`, `validate`...), or `api`. */
  command: string;
  /** The current working directory of the launcher. */
  cwd: string;
}

/** What `launch.config.ts` may export as default: the config, a promise of it, or a function returning either. */
export type ConfigExport =
  | UserConfig
  | Promise<UserConfig>
  | ((env: ConfigEnv) => UserConfig | Promise<UserConfig>);

/** A readiness check with every default filled in. */
export type ResolvedProbe =
  | { kind: 'tcp'; port: number | 'auto'; interval: number }
  | { kind: 'http'; url: string; status: readonly number[] | 'ok'; interval: number }
  | { kind: 'log'; pattern: string | RegExp; interval: number }
  | { kind: 'exec'; argv: readonly string[]; shell: boolean; interval: number };

/** Watch mode of a service; see {@link ServiceConfig.watch}. */
export interface WatchOptions {
  /** Paths or globs relative to the service's `cwd`. */
  paths: readonly string[];
  /** Paths or globs (relative to `cwd`) whose changes do not count. */
  ignore?: readonly string[];
  /**
   * Quiet time after a change before the restart, in ms (a save that writes
   * several files restarts once).
   * @default 200
   */
  debounce?: number;
}

/** Watch mode with its defaults filled in. */
export interface ResolvedWatch {
  /** Absolute folders (or files) to watch. */
  readonly roots: readonly string[];
  /** Relative paths (from `cwd`) that count. */
  readonly patterns: readonly RegExp[];
  /** Relative paths that never count. */
  readonly ignore: readonly RegExp[];
  readonly debounce: number;
}

/** A liveness check with its defaults filled in. */
export interface ResolvedHealth {
  readonly probe: ResolvedProbe;
  readonly interval: number;
  readonly timeout: number;
  readonly failures: number;
}

/** A service with defaults filled in, absolute paths and merged env. */
export interface ResolvedService {
  readonly name: string;
  /** The command as argv (when `shell` is true: a single element, the shell line). */
  readonly argv: readonly string[];
  readonly shell: boolean;
  /** The command as the user wrote it, for messages. */
  readonly commandText: string;
  readonly cwd: string;
  /** Merged env: top-level env files, top-level env, service env files, service env. */
  readonly env: EnvMap;
  /** The keys of {@link env} whose value came from an env file (secrets: never exported inline). */
  readonly envFromFiles: readonly string[];
  /** A fixed port, `'auto'` (resolved at start), or null for no port. */
  readonly port: number | 'auto' | null;
  /** The readiness check, or null: ready once spawned. */
  readonly ready: ResolvedProbe | null;
  readonly readyTimeout: number;
  readonly stopTimeout: number;
  readonly stopSignal: NodeJS.Signals;
  readonly dependsOn: Readonly<Record<string, DependencyCondition>>;
  readonly restart: RestartPolicy;
  readonly maxRestarts: number;
  /** Ms an instance must live for its restart not to count toward `maxRestarts`. */
  readonly minUptime: number;
  /** The image for `export compose` and `export kubernetes`, or null (none given). */
  readonly image: string | null;
  /** Where a daemonizing command writes its daemon's PID (absolute), or null. */
  readonly pidFile: string | null;
  /** The liveness check, or null. */
  readonly health: ResolvedHealth | null;
  /** Watch mode, or null. */
  readonly watch: ResolvedWatch | null;
  /** When a start runs a one-shot task again (see {@link ServiceConfig.rerun}). */
  readonly rerun: 'always' | 'on-change';
  /** A hash of everything that decides how the service runs, to detect config changes. */
  readonly configHash: string;
}

/** The stack, frozen, ready for the engine. */
export interface ResolvedConfig {
  /** Absolute path of the config file. */
  readonly file: string;
  /** The config file's folder; relative paths resolve against it. */
  readonly root: string;
  readonly name: string;
  /** Absolute path of the state folder. */
  readonly pidDir: string;
  /** Log rotation, with defaults filled in. */
  readonly logs: Readonly<Required<LogOptions>>;
  /** Every env file the config reads (top level and services), absolute. */
  readonly envFiles: readonly string[];
  readonly services: Readonly<Record<string, ResolvedService>>;
  /** Services grouped by dependency level: level 0 depends on nothing. */
  readonly levels: readonly (readonly string[])[];
}
