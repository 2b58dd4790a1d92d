import { execFileSync } from 'node:child_process';
import type { ProcessInspector } from './inspector.js';
import { parseLsofListeners } from './net-lsof.js';
import { type Listener, type ProcLookup, pidExists, sendSignal } from './proc.js';
import {
  envFromPsLine,
  type PsRow,
  parseBootTime,
  parsePsCgroups,
  parsePsEnv,
  parsePsTable,
  psColumns,
  psStartTime,
} from './proc-ps.js';
import { systemdUnit } from './systemd.js';

/**
 * The portable backend: everything from `ps`, `lsof` and `sysctl`, no /proc.
 * macOS and the BSDs use it; on Linux `LAUNCHGUARD_BACKEND=portable` forces
 * it, so every CI run proves the code macOS runs.
 *
 * `ps` and `lsof` cost milliseconds per call, so one operation reads one
 * snapshot of the process table (and one of the environments, one of the
 * listeners, one of the cgroups on Linux) and answers every question from it;
 * a snapshot lives for {@link SNAPSHOT_MS} after its read ended, or for a
 * whole read-only pass run under `consistent()` (a `status` of 50 services
 * took 4.8 s when its questions outlived each snapshot; 0.25 s with one). A PID missing from the snapshot (a process started a
 * moment ago) is looked up on its own, so a new service is never "gone".
 */

/** How long a snapshot answers questions, in ms: a stop's polling reads the table anew. */
const SNAPSHOT_MS = 20;

/** Output of a command run with a fixed locale; what it printed even if it exited non-zero (lsof: 1 when nothing matched). */
function run(file: string, args: readonly string[]): string {
  try {
    return execFileSync(file, args, {
      encoding: 'utf8',
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5_000,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const out = (error as { stdout?: unknown }).stdout;
    return typeof out === 'string' ? out : '';
  }
}

/** Passes running under `consistent()`: while any runs, snapshots do not expire. */
let holding = 0;

/** A value read at most once per {@link SNAPSHOT_MS} (counted from the end of the read). */
function snapshot<T>(read: () => T): () => T {
  let at = Number.NEGATIVE_INFINITY;
  let value: T;
  return () => {
    if (
      at === Number.NEGATIVE_INFINITY ||
      (holding === 0 && performance.now() - at > SNAPSHOT_MS)
    ) {
      value = read();
      at = performance.now();
    }
    return value;
  };
}

/** The portable inspector for `platform` (one per process: see `systemInspector`). */
export function portableInspector(platform: NodeJS.Platform): ProcessInspector {
  const sessions = platform === 'linux';
  const columns = psColumns(platform);
  const table = snapshot(() => parsePsTable(run('ps', ['-A', '-ww', '-o', columns]), sessions));
  const envs = snapshot(() => parsePsEnv(run('ps', ['axeww', '-o', 'pid=,command='])));
  // systemd exists on Linux only; there ps names the cgroups (`;`-separated).
  const cgroups = snapshot(() =>
    platform === 'linux' ? parsePsCgroups(run('ps', ['-A', '-ww', '-o', 'pid=,cgroup='])) : null,
  );
  const cwds = snapshot(() => new Map<number, string | null>());
  const sockets = snapshot(() =>
    parseLsofListeners(run('lsof', ['-nP', '-iTCP', '-sTCP:LISTEN', '-F', 'ptufn'])),
  );
  const row = (pid: number): PsRow | undefined =>
    table().get(pid) ??
    parsePsTable(run('ps', ['-ww', '-o', columns, '-p', String(pid)]), sessions).get(pid);
  let boot: string | null | undefined;
  return {
    platform,
    backend: 'ps',
    canVerify: true,
    completeListeners: process.geteuid?.() === 0, // lsof shows other users' sockets to root only
    lookup: (pid): ProcLookup => {
      const found = row(pid);
      return found === undefined ? { kind: 'gone' } : { kind: 'alive', info: found.info };
    },
    exists: pidExists,
    kill: sendSignal,
    cmdline: (pid) => row(pid)?.argv ?? null,
    cwd: (pid) => {
      // One lsof per process and snapshot: a status next to another checkout of the
      // same stack asks for every copy's folder once per service (600 lsof runs for 12).
      const known = cwds().get(pid);
      if (known !== undefined) return known;
      const out = run('lsof', ['-a', '-d', 'cwd', '-p', String(pid), '-Fn']);
      const line = out.split('\n').find((l) => l.startsWith('n'));
      const cwd = line === undefined ? null : line.slice(1);
      cwds().set(pid, cwd);
      return cwd;
    },
    environ: (pid, name) => {
      const line =
        envs().get(pid) ??
        parsePsEnv(run('ps', ['eww', '-o', 'pid=,command=', '-p', String(pid)])).get(pid);
      return line === undefined ? null : envFromPsLine(line, name);
    },
    unit: (pid) => {
      const all = cgroups();
      if (all === null) return null;
      const text = all.get(pid) ?? run('ps', ['-ww', '-o', 'cgroup=', '-p', String(pid)]);
      return systemdUnit(text);
    },
    // CPU and memory come with the table `status` reads anyway: no ps of their own.
    usage: (pids) => usageOf(table(), pids),
    listPids: () => [...table().keys()],
    bootId: () => {
      if (boot === undefined) {
        // Linux has no kern.boottime: init's start time is as stable, and read through ps.
        boot = parseBootTime(run('sysctl', ['-n', 'kern.boottime']));
        if (boot === null) {
          const init = run('ps', ['-o', 'lstart=', '-p', '1']).trim();
          boot = init === '' ? null : `boot:${psStartTime(init)}`;
        }
      }
      return boot;
    },
    pidNamespace: () => null,
    pidMax: () => (platform === 'darwin' ? 99_999 : 4_194_304),
    listeners: (port?: number, family?: 4 | 6): Listener[] =>
      sockets().filter(
        (l) =>
          (port === undefined || l.port === port) && (family === undefined || l.family === family),
      ),
    holders: (listeners, pids) => {
      const held = new Set(listeners.flatMap((l) => l.pids ?? []));
      return pids === undefined ? [...held] : [...pids].filter((p) => held.has(p));
    },
    consistent: async (fn) => {
      holding++;
      try {
        return await fn();
      } finally {
        holding--;
      }
    },
  };
}

/** The summed CPU and memory of `pids` in a ps table; null if none of them is in it. */
function usageOf(
  table: ReadonlyMap<number, PsRow>,
  pids: Iterable<number>,
): { cpu: number; rss: number } | null {
  let cpu = 0;
  let rss = 0;
  let found = false;
  for (const pid of pids) {
    const usage = table.get(pid)?.usage;
    if (usage === undefined) continue;
    cpu += usage.cpu;
    rss += usage.rss;
    found = true;
  }
  return found ? { cpu: Math.round(cpu * 10) / 10, rss } : null;
}
