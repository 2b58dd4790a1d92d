import { launch, type StackHandle } from '../api.js';
import { portEnvName, urlEnvName } from '../config/env-names.js';

/** What a test-runner fixture exports into `process.env` and provides to tests. */
export interface StackInfo {
  /** Ports by service name. */
  readonly ports: Readonly<Record<string, number>>;
  /** `http://127.0.0.1:<port>` (or `[::1]`) by service name, for services with an http check. */
  readonly urls: Readonly<Record<string, string>>;
  /** `<NAME>_PORT` of every service with a port, and `<NAME>_URL` of those with an http check. */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Starts the stack of the nearest `launch.config.*` (from the runner's cwd)
 * for a test run: the services named in `LAUNCHGUARD_SERVICES`
 * (comma-separated; all when unset) and their dependencies. The config file
 * can be given with `LAUNCHGUARD_CONFIG`.
 */
export async function startForTests(env: NodeJS.ProcessEnv = process.env): Promise<{
  stack: StackHandle;
  info: StackInfo;
}> {
  const services = (env.LAUNCHGUARD_SERVICES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const stack = await launch({
    cwd: process.cwd(),
    ...(services.length > 0 ? { services } : {}),
    ...(env.LAUNCHGUARD_CONFIG ? { config: env.LAUNCHGUARD_CONFIG } : {}),
  });
  const ports: Record<string, number> = {};
  const urls: Record<string, string> = {};
  const vars: Record<string, string> = {};
  for (const s of stack.services) {
    const port = portOf(stack, s.name);
    if (port === undefined) continue;
    ports[s.name] = port;
    vars[portEnvName(s.name)] = String(port);
    // A URL with a scheme only where the service speaks HTTP (its readiness check says
    // so): a redis or postgres service gets its port, never an `http://` URL.
    if (stack.config.services[s.name]?.ready?.kind !== 'http') continue;
    const url = stack.url(s.name);
    urls[s.name] = url;
    vars[urlEnvName(s.name)] = url;
  }
  return { stack, info: { ports, urls, env: vars } };
}

/**
 * Puts the stack's variables into `env` (the test process's environment),
 * never over a variable the user set already (`REDIS_URL=redis://…/2` stays).
 */
export function exportEnv(
  vars: Readonly<Record<string, string>>,
  env: NodeJS.ProcessEnv = process.env,
): void {
  for (const [name, value] of Object.entries(vars)) if (env[name] === undefined) env[name] = value;
}

function portOf(stack: StackHandle, name: string): number | undefined {
  try {
    return stack.port(name);
  } catch {
    return undefined; // a service without a port
  }
}
