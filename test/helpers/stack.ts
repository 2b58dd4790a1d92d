import { type ChildProcess, spawn } from 'node:child_process';
import { loadConfig } from '../../lib/config/load.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { LaunchError } from '../../lib/errors.js';
import { stackId } from '../../lib/state/marker.js';
import { fixture } from './paths.js';
import { track, trackStack } from './procs.js';
import { project } from './tmp.js';

/** A temp project whose config has the given services (plain JS objects), loaded and resolved. */
export async function makeStack(
  services: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<ResolvedConfig> {
  const dir = project({
    'launch.config.mjs': `export default ${JSON.stringify({ ...extra, services }, null, 2)};\n`,
  });
  const config = await loadConfig({ cwd: dir });
  trackStack(stackId(config.name, config.file));
  return config;
}

/** A `node <fixture>` command for a config. */
export function nodeFixture(name: string, ...args: string[]): string[] {
  return [process.execPath, fixture(name), ...args];
}

/** Spawns a plain process outside launchguard (a decoy or a foreign holder), tracked for cleanup. */
export function spawnPlain(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  cwd?: string,
): ChildProcess {
  const child = spawn(args[0] as string, args.slice(1), {
    env: { ...process.env, ...env },
    ...(cwd === undefined ? {} : { cwd }),
    stdio: 'ignore',
    detached: true,
  });
  if (child.pid !== undefined) track(child.pid);
  child.unref();
  return child;
}

/**
 * The LaunchError that a promise rejects with (or a function throws); fails
 * the test if it settles without one, and rethrows any other error.
 */
export async function failure(work: Promise<unknown> | (() => unknown)): Promise<LaunchError> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    if (error instanceof LaunchError) return error;
    throw error;
  }
  throw new Error('expected a LaunchError, but it succeeded');
}

/** A `listen.mjs` service on `port` (5 s ready timeout, 2 s stop timeout). */
export function listenService(port: number | 'auto', env: Record<string, string> = {}, extra = {}) {
  return {
    command: nodeFixture('listen.mjs'),
    port,
    env,
    readyTimeout: 5000,
    stopTimeout: 2000,
    ...extra,
  };
}
