import { portEnvName } from '../config/env-names.js';
import type { ResolvedService } from '../config/types.js';
import { MARKER_ENV } from '../state/marker.js';

/** `<NAME>_PORT` for every service with a port. */
export function portEnv(ports: Readonly<Record<string, number>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(ports).map(([name, port]) => [portEnvName(name), String(port)]),
  );
}

/**
 * The environment of a service: the launcher's own, then the config's merged
 * env, then `<NAME>_PORT` of every service, `PORT` (its own), and the instance
 * marker (which nothing can override).
 */
export function serviceEnv(
  svc: ResolvedService,
  ports: Readonly<Record<string, number>>,
  marker: string,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, ...svc.env, ...portEnv(ports) };
  const own = ports[svc.name];
  if (own !== undefined) env.PORT = String(own);
  env[MARKER_ENV] = marker;
  return env;
}
