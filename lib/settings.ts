import { LaunchError } from './errors.js';
import { parseDuration } from './format.js';

/**
 * The environment variables that change how launchguard works, parsed in one
 * place. A value that is set but not understood is an error (E_USAGE, exit 2)
 * before anything is started or read: a misspelt `LAUNCHGUARD_BACKEND` or a
 * `LAUNCHGUARD_CONFIG_TIMEOUT=10 sec` would otherwise be ignored silently, and
 * the user would believe a setting that is not in force. Set but empty counts
 * as unset (`VAR= cmd`).
 */

/** Backends `LAUNCHGUARD_BACKEND` can force (unset: the OS's own). */
export type BackendSetting = 'portable' | 'none';

function value(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw;
}

function positiveMs(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const ms = parseDuration(raw);
  if (ms !== null) return ms;
  throw new LaunchError('E_USAGE', `${name}=${raw} is not a duration`, {
    hint: `set ${name} to milliseconds (default ${fallback}) or a time with a unit (500ms, 10s, 2m), or unset it`,
  });
}

/** `LAUNCHGUARD_BACKEND`: `portable` (`ps`, `lsof`), `none` (as on Windows), or unset. */
export function backendSetting(env: NodeJS.ProcessEnv = process.env): BackendSetting | undefined {
  const raw = value(env, 'LAUNCHGUARD_BACKEND');
  if (raw === undefined || raw === 'portable' || raw === 'none') return raw;
  throw new LaunchError('E_USAGE', `LAUNCHGUARD_BACKEND=${raw} is not a backend`, {
    hint: "use 'portable' (ps and lsof) or 'none' (no process identities, as on Windows), or unset it for this OS's own",
  });
}

/** `LAUNCHGUARD_CONFIG_TIMEOUT`: the longest a config may take to load, ms (default 10 s). */
export function configTimeoutSetting(env: NodeJS.ProcessEnv = process.env): number {
  return positiveMs(env, 'LAUNCHGUARD_CONFIG_TIMEOUT', 10_000);
}

/** `LAUNCHGUARD_HEARTBEAT`: the interval of "still waiting" lines off a TTY, ms (default 10 s). */
export function heartbeatSetting(env: NodeJS.ProcessEnv = process.env): number {
  return positiveMs(env, 'LAUNCHGUARD_HEARTBEAT', 10_000);
}

/** Checks every setting at once, so a bad one fails a command before it does anything. */
export function assertSettings(env: NodeJS.ProcessEnv = process.env): void {
  backendSetting(env);
  configTimeoutSetting(env);
  heartbeatSetting(env);
}
