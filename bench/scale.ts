import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ports, workdir } from './scenarios.js';
import { BIN, now, pollUntilClosed, pollUntilOpen, runNode } from './util.js';

/**
 * Scale: `up -d` and `down` of N services that each listen on their own port,
 * against the floor of the same N processes spawned directly (all listening),
 * and stopped directly (SIGTERM to all, until all are gone). The services are
 * a few lines of Python (about 9 MB each: 500 Node services would need 20 GB),
 * so the figures are launchguard's work, not the services' start.
 */

const LISTENER = [
  'import os, signal, socket, sys',
  'signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))',
  's = socket.socket()',
  's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
  "s.bind(('127.0.0.1', int(os.environ['PORT'])))",
  's.listen()',
  'signal.pause()',
].join('\n');

/** The figures of one scale run, in ms. */
export interface ScaleRun {
  readonly n: number;
  readonly upFloor: number;
  readonly up: number;
  readonly downFloor: number;
  readonly down: number;
}

function spawnListener(port: number): ChildProcess {
  const child = spawn('python3', ['-c', LISTENER], {
    env: { ...process.env, PORT: String(port) },
    stdio: 'ignore',
    detached: true,
  });
  return child;
}

/** One run at `n` services: the floor first, then launchguard on the same ports. */
export async function scale(n: number): Promise<ScaleRun> {
  const w = workdir();
  try {
    const list = await ports(n);
    const t0 = now();
    const kids = list.map(spawnListener);
    await pollUntilOpen(list, 5, 120_000);
    const upFloor = now() - t0;
    const s0 = now();
    for (const k of kids) process.kill(k.pid as number, 'SIGTERM'); // ours: spawned above
    await Promise.all(
      kids.map((k) => (k.exitCode === null ? new Promise((r) => k.once('exit', r)) : null)),
    );
    const downFloor = now() - s0;
    await pollUntilClosed(list);
    const services = Object.fromEntries(
      list.map((port, i) => [
        `s${i}`,
        { command: ['python3', '-c', LISTENER], port, readyTimeout: 120_000 },
      ]),
    );
    writeFileSync(
      join(w.dir, 'launch.config.mjs'),
      `export default ${JSON.stringify({ services })};\n`,
    );
    const up = await runNode(BIN, ['up', '-d'], { cwd: w.dir });
    if (up.code !== 0) throw new Error(`up -d of ${n} failed:\n${up.out.slice(-2000)}`);
    const down = await runNode(BIN, ['down'], { cwd: w.dir });
    if (down.code !== 0) throw new Error(`down of ${n} failed:\n${down.out.slice(-2000)}`);
    return { n, upFloor, up: up.ms, downFloor, down: down.ms };
  } finally {
    w.done();
  }
}
