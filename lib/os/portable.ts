import { spawnSync } from 'node:child_process';
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
 * a snapshot lives for {@link SNAPSHOT_MS} (or twice its read's time) after its read ended
 * (the process table: never from before the listeners it is read with), or for a
 * whole read-only pass run under `consistent()` (a `status` of 50 services
 * took 4.8 s when its questions outlived each snapshot; 0.25 s with one). A PID
 * missing from the snapshot that still exists (a process started a moment ago)
 * is looked up on its own, so a new service is never "gone".
 */

/** How long a snapshot answers questions, in ms: a stop's polling reads the table anew. */
const SNAPSHOT_MS = 20;

/** A command's output, and the PID it ran as (a table `ps` reads lists `ps` itself). */
interface Output {
  readonly text: string;
  readonly pid: number | undefined;
}

/** Output of a command run with a fixed locale; what it printed even if it exited non-zero (lsof: 1 when nothing matched). */
function run(file: string, args: readonly string[]): Output {
  const ran = spawnSync(file, args, {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 5_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { text: typeof ran.stdout === 'string' ? ran.stdout : '', pid: ran.pid || undefined };
}

/**
 * A table read by `ps`, without the row of that `ps` (gone by the time anyone
 * asks; a new PID at every read, which made every scan of the table look up
 * its environment and its row again, with a `ps` each).
 */
function withoutSelf<T>(output: Output, parse: (text: string) => Map<number, T>): Map<number, T> {
  const rows = parse(output.text);
  if (output.pid !== undefined) rows.delete(output.pid);
  return rows;
}

/** Passes running under `consistent()`: while any runs, snapshots do not expire. */
let holding = 0;

/**
 * A value read at most once per {@link SNAPSHOT_MS}, or per twice as long as
 * its read took if that is longer, counted from the end of the read. Where `ps`
 * takes longer than a snapshot lives (a busy machine, a Mac with many
 * processes), a pass that asks about each process's row and environment in
 * turn expired each table while it read the other, and read both again for
 * every process: 70 reads of the table for one pass, with a `ps` that took
 * 50 ms. Twice the read's time: the other table's read fits in it.
 */
function snapshot<T>(
  read: () => T,
  notBefore: () => number = () => Number.NEGATIVE_INFINITY,
): Snapshot<T> {
  let began = Number.NEGATIVE_INFINITY;
  let at = Number.NEGATIVE_INFINITY;
  let took = 0;
  let value: T;
  const get = () => {
    if (
      at === Number.NEGATIVE_INFINITY ||
      (holding === 0 &&
        (performance.now() - at > Math.max(SNAPSHOT_MS, 2 * took) || began < notBefore()))
    ) {
      began = performance.now();
      value = read();
      at = performance.now();
      took = at - began;
    }
    return value;
  };
  return Object.assign(get, { began: () => began });
}

/** A snapshot's value, and when its read began. */
type Snapshot<T> = (() => T) & { readonly began: () => number };

/** The portable inspector for `platform` (one per process: see `systemInspector`). */
export function portableInspector(platform: NodeJS.Platform): ProcessInspector {
  const sessions = platform === 'linux';
  const columns = psColumns(platform);
  const sockets = snapshot(() =>
    parseLsofListeners(run('lsof', ['-nP', '-iTCP', '-sTCP:LISTEN', '-F', 'ptufn']).text),
  );
  // The table is never older than the listeners it is read with: a service started between
  // the two reads is then in both (with a table a moment older, its port read as held by
  // nobody known: a test of the portable pass failed so).
  const table = snapshot(
    () =>
      withoutSelf(run('ps', ['-A', '-ww', '-o', columns]), (text) => parsePsTable(text, sessions)),
    sockets.began,
  );
  const envs = snapshot(() => withoutSelf(run('ps', ['axeww', '-o', 'pid=,command=']), parsePsEnv));
  // systemd exists on Linux only; there ps names the cgroups (`;`-separated).
  const cgroups = snapshot(() =>
    platform === 'linux'
      ? withoutSelf(run('ps', ['-A', '-ww', '-o', 'pid=,cgroup=']), parsePsCgroups)
      : null,
  );
  const cwds = snapshot(() => new Map<number, string | null>());
  // A PID missing from the snapshot is looked up on its own only if it exists (kill 0, no
  // signal sent): a process that exited needs no `ps` to say so (a `down` of 30 services ran
  // 87 of its 145 `ps` for the very services it had just stopped).
  const row = (pid: number): PsRow | undefined =>
    table().get(pid) ??
    (pidExists(pid)
      ? parsePsTable(run('ps', ['-ww', '-o', columns, '-p', String(pid)]).text, sessions).get(pid)
      : undefined);
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
      const out = run('lsof', ['-a', '-d', 'cwd', '-p', String(pid), '-Fn']).text;
      const line = out.split('\n').find((l) => l.startsWith('n'));
      const cwd = line === undefined ? null : line.slice(1);
      cwds().set(pid, cwd);
      return cwd;
    },
    environ: (pid, name) => {
      const line =
        envs().get(pid) ??
        (pidExists(pid)
          ? parsePsEnv(run('ps', ['eww', '-o', 'pid=,command=', '-p', String(pid)]).text).get(pid)
          : undefined);
      return line === undefined ? null : envFromPsLine(line, name);
    },
    unit: (pid) => {
      const all = cgroups();
      if (all === null) return null;
      const text =
        all.get(pid) ??
        (pidExists(pid) ? run('ps', ['-ww', '-o', 'cgroup=', '-p', String(pid)]).text : '');
      return systemdUnit(text);
    },
    // CPU and memory come with the table `status` reads anyway: no ps of their own.
    usage: (pids) => usageOf(table(), pids),
    listPids: () => [...table().keys()],
    bootId: () => {
      if (boot === undefined) {
        // Linux has no kern.boottime: init's start time is as stable, and read through ps.
        boot = parseBootTime(run('sysctl', ['-n', 'kern.boottime']).text);
        if (boot === null) {
          const init = run('ps', ['-o', 'lstart=', '-p', '1']).text.trim();
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
