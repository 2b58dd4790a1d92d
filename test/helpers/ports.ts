import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import getPort, { portNumbers } from 'get-port';
import { systemInspector } from '../../lib/os/inspector.js';
import type { Listener } from '../../lib/os/proc.js';
import { fixture } from './paths.js';
import { track } from './procs.js';

/**
 * The ports this test process hands out. `npm test` runs two passes at once
 * (scripts/test.mjs), and get-port keeps a port from being handed out twice
 * only within one process: two passes that each picked the same free port
 * made a test fail with EADDRINUSE against the other's service. So each pass
 * picks from its own range, both below the kernel's ephemeral ports (32768+),
 * which `port: 'auto'` and port-0 listeners take.
 */
const RANGE: readonly [number, number] =
  process.env.LAUNCHGUARD_BACKEND === 'portable' ? [26_000, 32_000] : [20_000, 25_999];

/** A port that is free right now on every local address, from this pass's range. */
export function freePort(): Promise<number> {
  return getPort({ port: portNumbers(...RANGE) });
}

/**
 * Starts `hold-port.mjs` on `host:port` (a foreign holder, no marker) and
 * resolves once it listens. Tracked for cleanup.
 */
export async function holdPort(port: number, host = '127.0.0.1'): Promise<ChildProcess> {
  const child = spawn(process.execPath, [fixture('hold-port.mjs')], {
    env: { ...process.env, PORT: String(port), HOST: host },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  track(child.pid as number);
  const [data] = (await Promise.race([
    once(child.stdout as NodeJS.ReadableStream, 'data'),
    once(child, 'exit').then(() => {
      throw new Error(`hold-port on ${host}:${port} exited before listening`);
    }),
  ])) as [Buffer];
  if (!String(data).includes('ready')) throw new Error(`hold-port said ${String(data)}`);
  child.unref();
  (child.stdout as NodeJS.ReadableStream & { destroy(): void }).destroy();
  return child;
}

/** Listening sockets on `port` right now (every address), as the system inspector sees them. */
export function listenersOn(port: number): readonly Listener[] {
  return systemInspector().listeners(port) ?? [];
}
