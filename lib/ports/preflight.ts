import type { ResolvedService } from '../config/types.js';
import { LaunchError } from '../errors.js';
import type { ProcessInspector } from '../os/inspector.js';
import { pickPort } from './auto.js';
import { type ClearPortReport, clearPort } from './clear-port.js';
import type { PortReservations } from './port-plan.js';
import { listenerScanner, type PortScanner } from './scan.js';

/** What the pre-flight needs besides the service. */
export interface PreflightOptions {
  readonly force?: boolean;
  readonly scanner?: PortScanner;
  /** Ports an `'auto'` pick must not return (lost to bind races before). */
  readonly avoidPorts?: readonly number[];
  /** `'auto'` ports picked (and held) before the start; see `port-plan.ts`. */
  readonly reservations?: PortReservations;
  /**
   * The fixed port was bound and let go a moment ago, under the service's
   * lock, with nothing stopped since: it is free, no second bind (one start:
   * 0.5-1 ms). @default false
   */
  readonly portFree?: boolean;
}

/**
 * The port pre-flight, under the service's lock: a fixed port must be free or
 * held by an earlier instance (stopped here) or, with force, by a foreign
 * process. An `'auto'` port planned (and reserved) before the start is let go
 * right here, just before the spawn; without one, or if it was taken
 * meanwhile, one is picked until a free one is found.
 */
export async function preparePort(
  svc: ResolvedService,
  ports: Record<string, number>,
  stack: string,
  inspector: ProcessInspector,
  options: PreflightOptions,
): Promise<ClearPortReport> {
  if (svc.port === null) return { stopped: [] };
  // The port this launcher is about to give the service: "free" from one bind (see listenerScanner).
  const scanner = options.scanner ?? listenerScanner(inspector, true);
  if (svc.port !== 'auto') {
    ports[svc.name] = svc.port;
    if (options.portFree === true) return { stopped: [] };
    return clearPort(svc, svc.port, { stack, inspector, scanner, force: options.force ?? false });
  }
  const planned = ports[svc.name];
  const usable = planned !== undefined && !options.avoidPorts?.includes(planned);
  // Held by this launcher until now: nobody can have bound it (a race in the instant
  // since is the service's EADDRINUSE, and bringUp picks again).
  if ((await options.reservations?.release(svc.name)) && usable) return { stopped: [] };
  // The port of the instance it replaces: kept if it is free again.
  if (usable && (await scanner(planned)).length === 0) return { stopped: [] };
  const tried: number[] = planned === undefined ? [] : [planned];
  for (let i = 0; i < 20; i++) {
    const others = Object.entries(ports)
      .filter(([n]) => n !== svc.name)
      .map(([, p]) => p);
    const port = await pickPort([...others, ...tried, ...(options.avoidPorts ?? [])]);
    if ((await scanner(port)).length === 0) {
      ports[svc.name] = port;
      return { stopped: [] };
    }
    tried.push(port);
  }
  throw new LaunchError(
    'E_PORT_IN_USE',
    `${svc.name}: no free port found for port: 'auto' (tried ${tried.join(', ')})`,
    {
      service: svc.name,
      hint: 'free some ports or give the service a fixed port',
    },
  );
}
