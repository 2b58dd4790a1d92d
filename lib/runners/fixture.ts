import { launch, type StackHandle } from '../api.js';
import { portEnvName, urlEnvName } from '../config/env-names.js';

/** What a test-runner fixture exports into `process.env` and provides to tests. */
export interface StackInfo {
  /** Ports by service name. */
  readonly ports: Readonly<Record<string, number>>;
  /** `http://127.0.0.1:<port>` (or `[::1]`) by service name. */
  readonly urls: Readonly<Record<string, string>>;
  /** `<NAME>_PORT` and `<NAME>_URL` of every service with a port. */
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
    const url = stack.url(s.name);
    ports[s.name] = port;
    urls[s.name] = url;
    vars[portEnvName(s.name)] = String(port);
    vars[urlEnvName(s.name)] = url;
  }
  return { stack, info: { ports, urls, env: vars } };
}

function portOf(stack: StackHandle, name: string): number | undefined {
  try {
    return stack.port(name);
  } catch {
    return undefined; // a service without a port
  }
}
