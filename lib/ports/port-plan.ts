import type { Server } from 'node:net';
import type { ResolvedConfig } from '../config/types.js';
import type { ProcessInspector } from '../os/inspector.js';
import { stackOf } from '../state/marker.js';
import { portOf } from '../state/record.js';
import { readServiceState } from '../state/service-state.js';
import { pickPort } from './auto.js';
import { bindPort } from './scan.js';

/**
 * `'auto'` ports picked before anything is spawned, each held by a listening
 * socket of the launcher until its service is about to start: another
 * process cannot take it in between, and every service can be told every
 * other service's port (`<NAME>_PORT`) when it is spawned.
 */
export class PortReservations {
  readonly #held = new Map<string, Server>();

  /** Holds `port` for `service`; false if it cannot be bound (already taken). */
  async reserve(service: string, port: number): Promise<boolean> {
    // The unspecified address: `::` without ipv6Only covers IPv4 too (dual stack);
    // `0.0.0.0` where there is no IPv6.
    const bound = await bindPort(null, port, false);
    if (typeof bound !== 'object') return false;
    this.#held.set(service, bound);
    return true;
  }

  /** Lets `service`'s port go, right before the service binds it; false if none was held. */
  async release(service: string): Promise<boolean> {
    const server = this.#held.get(service);
    if (server === undefined) return false;
    this.#held.delete(service);
    await new Promise((resolve) => server.close(resolve));
    return true;
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.#held.keys()].map((s) => this.release(s)));
  }
}

/**
 * Every port of the stack, decided before the first spawn: fixed ports as
 * configured, the `'auto'` port of a running instance from its record, and a
 * fresh pick (reserved) for every selected `'auto'` service that is not
 * running. Services not selected and not running have no port yet.
 */
export async function planPorts(
  config: ResolvedConfig,
  selected: readonly string[],
  inspector: ProcessInspector,
  reservations: PortReservations,
): Promise<Record<string, number>> {
  const ports: Record<string, number> = {};
  const auto: string[] = [];
  for (const svc of Object.values(config.services)) {
    if (typeof svc.port === 'number') ports[svc.name] = svc.port;
    if (svc.port !== 'auto') continue;
    const state = readServiceState(config.pidDir, svc.name, inspector, stackOf(config));
    const recorded = state.kind === 'running' ? portOf(state.record, svc.name) : undefined;
    if (recorded !== undefined) ports[svc.name] = recorded;
    else if (selected.includes(svc.name)) auto.push(svc.name);
  }
  for (const name of auto) {
    for (let tries = 0; tries < 20; tries++) {
      const port = await pickPort(Object.values(ports));
      if (await reservations.reserve(name, port)) {
        ports[name] = port;
        break;
      }
    }
  }
  return ports;
}
