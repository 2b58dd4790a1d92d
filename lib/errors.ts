/**
 * The one error type launchguard throws at its users.
 *
 * Every failure a user can meet carries a stable {@link ErrorCode}, a one-line
 * `message` that names the service and the cause, and a `hint` that says what
 * to do next. The CLI prints `message` and `hint` and maps the code to an exit
 * code; a stack trace is shown only with `--debug`.
 */
export type ErrorCode =
  /** The config file could not be found, loaded or validated. Exit 2. */
  | 'E_CONFIG'
  /** The command line could not be understood. Exit 2. */
  | 'E_USAGE'
  /** A service could not be spawned (missing command, missing cwd, not executable). Exit 1. */
  | 'E_SPAWN'
  /** A service exited before it became ready. Exit 1. */
  | 'E_EXITED'
  /** A service did not become ready within its `readyTimeout`. Exit 1. */
  | 'E_NOT_READY'
  /** A service's port is held by a process that is not ours. Exit 1. */
  | 'E_PORT_IN_USE'
  /** Another launcher holds the service's lock for longer than the lock timeout. Exit 1. */
  | 'E_BUSY'
  /** The state directory (PID files, records, logs) cannot be used. Exit 1. */
  | 'E_STATE'
  /** A stop left processes behind. Exit 1. */
  | 'E_STOP'
  /** The operation was aborted through its AbortSignal (its `cause` is the signal's reason). Exit 1. */
  | 'E_ABORTED'
  /** A service was not started because a service it depends on failed. Exit 1. */
  | 'E_DEPENDENCY'
  /** Not possible on this platform (detached services on Windows). Exit 2. */
  | 'E_UNSUPPORTED';

/** Exit code the CLI uses for each {@link ErrorCode}. */
export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = Object.freeze({
  E_CONFIG: 2,
  E_USAGE: 2,
  E_SPAWN: 1,
  E_EXITED: 1,
  E_NOT_READY: 1,
  E_PORT_IN_USE: 1,
  E_BUSY: 1,
  E_STATE: 1,
  E_STOP: 1,
  E_ABORTED: 1,
  E_DEPENDENCY: 1,
  E_UNSUPPORTED: 2,
});

/** Options of {@link LaunchError}. */
export interface LaunchErrorOptions {
  /** What the user can do next, one sentence. */
  hint?: string;
  /** The service the error is about, if any. */
  service?: string;
  /** The lower-level error that caused this one. */
  cause?: unknown;
  /** Extra lines shown under the message (e.g. each config problem, a log tail). */
  details?: readonly string[];
}

/**
 * A user-facing failure with a stable code, a one-line message and a hint.
 * `message` is the one line; `toString()` and `stack` also carry the details
 * and the hint, so a test runner that prints a failed global setup (mocha,
 * vitest, jest print the stack) shows who holds the port and what to do.
 */
/**
 * The brand every {@link LaunchError} carries: `isLaunchError` checks it, not
 * `instanceof`, so an error from another copy of launchguard (two versions in
 * one `node_modules`, the CLI bundle and the library) is still recognised.
 */
const BRAND = Symbol.for('launchguard.LaunchError');

export class LaunchError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly service: string | undefined;
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options: LaunchErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.service = options.service;
    this.details = options.details ?? [];
    const frames = (this.stack ?? '').split('\n').filter((l) => l.startsWith('    at '));
    this.stack = [this.toString(), ...frames].join('\n');
  }

  /** The message, the details beneath it and the hint: what the CLI prints, as text. */
  override toString(): string {
    return [
      `LaunchError: ${this.message}`,
      ...this.details.map((d) => `  ${d}`),
      ...(this.hint === undefined ? [] : [`hint: ${this.hint}`]),
    ].join('\n');
  }

  /** The exit code the CLI uses for this error. */
  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}
// On the prototype, as Error's own `name` is: not an enumerable field of every instance.
Object.defineProperty(LaunchError.prototype, 'name', {
  value: 'LaunchError',
  writable: true,
  configurable: true,
});
Object.defineProperty(LaunchError.prototype, BRAND, { value: true });

/**
 * True when `error` is a {@link LaunchError} (of any copy of launchguard: a
 * brand, not `instanceof`), optionally with the given code.
 */
export function isLaunchError(error: unknown, code?: ErrorCode): error is LaunchError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as Record<symbol, unknown>)[BRAND] === true &&
    (code === undefined || (error as LaunchError).code === code)
  );
}

/** The E_ABORTED error for `what`, with the signal's reason as its cause. */
export function abortedError(what: string, signal?: AbortSignal, service?: string): LaunchError {
  return new LaunchError('E_ABORTED', what, {
    ...(service === undefined ? {} : { service }),
    ...(signal?.reason === undefined ? {} : { cause: signal.reason }),
  });
}

/** The `code` of a Node system error (`ENOENT`, `EPERM`...), or undefined. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** What to do about a state path the disk refuses, by errno. */
function stateHint(code: string | undefined): string {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return "free some space on that filesystem (a chatty service's log may have filled it: 'launchguard status' shows each log), or set pidDir in the config to a folder on another one";
    case 'EROFS':
      return 'that filesystem is read-only: set pidDir in the config to a writable folder';
    case 'EACCES':
    case 'EPERM':
      return 'launchguard may not write there: fix the permissions, or set pidDir in the config to a folder of yours';
    default:
      return 'check that the folder exists, is writable and has free space, or set pidDir in the config';
  }
}

/** An E_STATE error for a state path the disk refused (the errno decides the hint). */
export function stateError(
  path: string,
  what: string,
  cause: unknown,
  service?: string,
): LaunchError {
  const code = errnoCode(cause);
  return new LaunchError(
    'E_STATE',
    `${service === undefined ? '' : `${service}: `}${what}: ${path}${code ? ` (${code})` : ''}`,
    { hint: stateHint(code), cause, ...(service === undefined ? {} : { service }) },
  );
}

/** Errnos that say the disk will not take a write: no space, no quota, read-only. */
export const UNWRITABLE = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);

/**
 * A Node system error that says a file could not be written (no space, no
 * quota, read-only, no permission), as an E_STATE error naming its path; null
 * for anything else. The CLI's last resort, so that no such error reads as a bug.
 */
export function asStateError(error: unknown): LaunchError | null {
  const code = errnoCode(error);
  const path = (error as { path?: unknown } | null)?.path;
  if (code === undefined || typeof path !== 'string') return null;
  if (!UNWRITABLE.has(code) && code !== 'EACCES' && code !== 'EPERM') return null;
  return stateError(path, 'cannot write', error);
}
