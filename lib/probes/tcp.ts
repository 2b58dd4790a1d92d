import { connect } from 'node:net';

/** The outcome of one probe attempt (`family`: which loopback answered, when known). */
export type Attempt =
  | { readonly ok: true; readonly family?: 4 | 6 }
  | {
      readonly ok: false;
      readonly error: string;
      /** True when a process outside the service's tree answered. */
      readonly foreign?: boolean;
      /** True when the attempt was cut short at the deadline (it says less than the one before). */
      readonly cut?: boolean;
    };

/**
 * One TCP connect to `host:port`, closed at once. A connection whose local
 * port equals the remote port is the kernel's simultaneous open of a socket
 * to itself (possible for ports in the ephemeral range), not a listener: it
 * counts as a failure.
 */
export function tcpAttempt(
  host: string,
  port: number,
  timeout: number,
  signal?: AbortSignal,
): Promise<Attempt> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: Attempt) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => done({ ok: false, error: `connect to ${host}:${port} timed out` }),
      timeout,
    );
    const onAbort = () => done({ ok: false, error: `connect to ${host}:${port} cut short` });
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      if (socket.localPort === port && socket.localAddress === socket.remoteAddress) {
        done({ ok: false, error: `connect to ${host}:${port} reached itself (no listener)` });
      } else done({ ok: true, family: host.includes(':') ? 6 : 4 });
    });
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done({ ok: false, error: `connect to ${host}:${port}: ${error.code ?? error.message}` }),
    );
  });
}

/** The loopback addresses a service may listen on; `localhost` can be either. */
export const LOOPBACK = ['127.0.0.1', '::1'] as const;

/**
 * TCP connect on loopback: ready if either answers. `hosts` picks the
 * addresses (both by default); a poller alternates them to halve the cost of
 * each tick, which matters where syscalls are dear.
 *
 * One after the other, ::1 only if 127.0.0.1 did not answer: a refused
 * connect on loopback comes back at once, and a connect to ::1 is dear the
 * first time. Node checks every host with `net.isIP`, whose IPv6 pattern took
 * 8 ms of CPU to compile in the keeper, on the path from "the port is open"
 * to "ready". A service that listens on 127.0.0.1, 0.0.0.0 or a dual-stack
 * `::` answers the first connect; one on ::1 alone the second.
 */
export async function tcpLoopbackAttempt(
  port: number,
  timeout: number,
  hosts: readonly string[] = LOOPBACK,
  signal?: AbortSignal,
): Promise<Attempt> {
  let first: Attempt | undefined;
  for (const host of hosts) {
    const got = await tcpAttempt(host, port, timeout, signal);
    if (got.ok) return got;
    first ??= got;
    if (signal?.aborted) break;
  }
  return first ?? { ok: false, error: 'no address' };
}
