import { tcpAttempt } from '../probes/tcp.js';

/**
 * The loopback address a port answers on, for URLs: `127.0.0.1`, else
 * `[::1]` (a service listening on IPv6 loopback only); an address, not
 * `localhost`, whose resolution varies.
 */
export async function reachableHost(port: number): Promise<string> {
  if ((await tcpAttempt('127.0.0.1', port, 1000)).ok) return '127.0.0.1';
  if ((await tcpAttempt('::1', port, 1000)).ok) return '[::1]';
  return '127.0.0.1';
}
