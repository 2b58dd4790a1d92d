import { createServer, type Server } from 'node:net';
import { type ProcessInspector, systemInspector } from '../os/inspector.js';

/** One process (or an unknown one) listening on a port, at one address. */
export interface PortUse {
  readonly port: number;
  readonly address: string;
  /** The holder's PID, or null if it could not be found (another user's process). */
  readonly pid: number | null;
  /** The socket owner's uid, when the OS says. */
  readonly uid: number | null;
}

/** Finds who listens on a port. One implementation per OS. */
export type PortScanner = (port: number) => Promise<PortUse[]>;

/** The addresses a service may bind; `localhost` can resolve to either family. */
const CHECKED_HOSTS = ['0.0.0.0', '127.0.0.1', '::', '::1'] as const;

/**
 * Who listens on `port`, through the inspector (Linux: /proc/net/tcp{,6} and
 * /proc/PID/fd; the portable backend: lsof). Each listening address is one
 * use; a socket whose holder cannot be seen (another user's) has pid null.
 * `bindFirst`: answer "nobody" from a bind test when it succeeds. Only for
 * the port a launcher is about to give its own service, under its lock: the
 * test socket lives for one bind, but a process that binds the same port at
 * that instant fails, and on a port we are about to take it would have failed
 * anyway. Never for looking on (`status`, tests), nor with a fake process
 * table (its listeners are not the OS's).
 */
export function listenerScanner(inspector: ProcessInspector, bindFirst = false): PortScanner {
  return async (port) => {
    // The common answer, "nobody", from one bind (~0.1 ms) instead of the listener
    // tables (on Linux a /proc/net/tcp read can walk the kernel's whole socket hash:
    // 3-4 ms on a small VM).
    if (bindFirst && (await portIsFree(port))) return [];
    const listeners = inspector.listeners(port);
    if (listeners === null) return scanByBind(port);
    if (listeners.length === 0) {
      // Another user's socket may be invisible here (lsof as non-root): a bind decides.
      if (inspector.completeListeners) return [];
      return (await boundHosts(port)).map((address) => ({ port, address, pid: null, uid: null }));
    }
    const all = inspector.listPids().filter((pid) => pid !== process.pid);
    const uses: PortUse[] = [];
    for (const l of listeners) {
      const pids = inspector.holders([l], all);
      if (pids.length === 0) uses.push({ port, address: l.address, pid: null, uid: l.uid });
      for (const pid of pids) uses.push({ port, address: l.address, pid, uid: l.uid });
    }
    return uses;
  };
}

/**
 * Binds `port` on `host` (exclusively; `ipv6Only` false: `::` covers IPv4
 * too) and resolves with the listening server, `false` if the port is taken
 * or not ours (EADDRINUSE, EACCES), or `'no-address'` where the address
 * family does not exist. The one bind test: the caller closes the server, or
 * keeps it to hold the port. `host` null: the unspecified address, `::`
 * (dual stack) where there is IPv6, else `0.0.0.0`, as Node picks it. That
 * also spares the first call in a process Node's check of the host string,
 * whose IPv6 pattern takes 6 ms of CPU to compile (measured: the first
 * `portIsFree` of a keeper, on the path to its first spawn).
 */
export function bindPort(
  host: string | null,
  port: number,
  ipv6Only: boolean,
): Promise<Server | false | 'no-address'> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) =>
      resolve(
        error.code === 'EADDRNOTAVAIL' || error.code === 'EAFNOSUPPORT' ? 'no-address' : false,
      ),
    );
    server.listen({ ...(host === null ? {} : { host }), port, exclusive: true, ipv6Only }, () =>
      resolve(server),
    );
  });
}

/** True if `port` can be bound on `host` right now (false on EADDRINUSE/EACCES). */
async function canBind(host: string, port: number): Promise<boolean | 'no-address'> {
  const bound = await bindPort(host, port, host.includes(':'));
  if (typeof bound !== 'object') return bound;
  await new Promise((resolve) => bound.close(resolve));
  return true;
}

/**
 * True if nothing listens on `port` at any address: a dual-stack listen on
 * `::` (or `0.0.0.0` without IPv6) conflicts with a listener on every IPv4
 * and IPv6 address, and, like the service's own listen (SO_REUSEADDR), not
 * with connections in TIME_WAIT. False means "look closer" (busy, or not
 * ours to test: EACCES below 1024). The test listener lives for one bind and
 * its code accepts nothing, but the kernel completes a connection made in
 * that instant: a poller of the port (wait-on, the bench's floor poll) can
 * see it open once before the service runs (see the README's pre-flight).
 */
export async function portIsFree(port: number): Promise<boolean> {
  const bound = await bindPort(null, port, false);
  if (typeof bound !== 'object') return false;
  await new Promise((resolve) => bound.close(resolve));
  return true;
}

/** The checked addresses on which `port` cannot be bound right now. */
async function boundHosts(port: number): Promise<string[]> {
  const busy: string[] = [];
  for (const host of CHECKED_HOSTS) if ((await canBind(host, port)) === false) busy.push(host);
  return busy;
}

/** Where listeners cannot be listed at all: a bind test on each address, holders unknown. */
const scanByBind: PortScanner = async (port) =>
  (await boundHosts(port)).map((address) => ({ port, address, pid: null, uid: null }));

/** The scanner for the running OS (the inspector's listeners; a bind test where it has none). */
export function systemScanner(inspector: ProcessInspector = systemInspector()): PortScanner {
  return listenerScanner(inspector);
}
