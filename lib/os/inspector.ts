import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { backendSetting } from '../settings.js';
import {
  holdersLinux,
  listenersHintLinux,
  listenersLinux,
  socketActivityLinux,
} from './net-linux.js';
import { parseNetstatListeners } from './net-lsof.js';
import { portableInspector } from './portable.js';
import { type Listener, type ProcLookup, pidExists, sendSignal } from './proc.js';
import {
  bootIdLinux,
  cmdlineLinux,
  cwdLinux,
  environLinux,
  listPidsLinux,
  lookupLinux,
  pidMaxLinux,
  pidNamespaceLinux,
  usageLinux,
} from './proc-linux.js';
import { type SystemdUnit, systemdUnit } from './systemd.js';

/**
 * Everything launchguard reads about processes and sockets, behind one
 * interface, so the engine is the same on every OS and tests can pass a fake.
 * Backends: `linux` (/proc, no external tools), `portable` (`ps`, `lsof`,
 * `sysctl`: macOS, the BSDs, and Linux with `LAUNCHGUARD_BACKEND=portable`),
 * and Windows, where identities cannot be verified (see the README's Limits).
 */
export interface ProcessInspector {
  /** `linux`, `darwin`, `win32`... */
  readonly platform: NodeJS.Platform;
  /**
   * Which backend reads processes: start times and boot ids of the `proc`
   * and `ps` backends are not comparable, so an identity recorded by one is
   * unverifiable (never signalled, never taken for dead) under the other.
   */
  readonly backend: 'proc' | 'ps' | 'none';
  /** False where identities cannot be verified (then nothing found by a file or a marker is signalled). */
  readonly canVerify: boolean;
  /**
   * True if {@link listeners} lists every socket on the machine, whoever
   * owns it (/proc/net; lsof as root). False where other users' sockets are
   * invisible: a port that looks free is confirmed by binding it.
   */
  readonly completeListeners: boolean;
  lookup(pid: number): ProcLookup;
  /**
   * Whether a process with this PID exists (a zombie too), cheaply
   * (`kill(pid, 0)`): no identity, only for re-checking a process verified a
   * moment ago.
   */
  exists(pid: number): boolean;
  /**
   * Sends `signal` (0: only checks) to a process, or to a group with a
   * negative PID: `process.kill`, the one way launchguard signals anything
   * (a fake in unit tests). Throws ESRCH or EPERM as `process.kill` does.
   */
  kill(pid: number, signal: NodeJS.Signals | 0): void;
  cmdline(pid: number): string[] | null;
  cwd(pid: number): string | null;
  /** One variable of a process's environment as it was at exec. */
  environ(pid: number, name: string): string | null;
  /** The systemd `.service` unit a process runs in, or null (none, or no systemd). */
  unit(pid: number): SystemdUnit | null;
  listPids(): number[];
  bootId(): string | null;
  pidNamespace(): string | null;
  pidMax(): number;
  /**
   * Listening TCP sockets, IPv4 and IPv6 (on one port, or all; of one family,
   * or both), whoever owns them; null where the OS cannot list them (then a
   * port is checked by binding it). `first`: the first listener found on
   * `port` is enough (where the OS allows, the rest is not read).
   */
  listeners(port?: number, family?: 4 | 6, first?: boolean): Listener[] | null;
  /** PIDs among `pids` (default: every process) that hold one of `listeners` open. */
  holders(listeners: readonly Listener[], pids?: Iterable<number>): number[];
  /**
   * A fingerprint of the TCP socket counts that changes when a socket opens,
   * listens or closes, read for a few microseconds (Linux: /proc/net/sockstat
   * and sockstat6); absent where the OS keeps none, null if unreadable now.
   * It says when the listener tables are worth reading again.
   */
  socketActivity?(): string | null;
  /**
   * Every listener, read as cheaply as the socket counts allow; a socket that
   * opens meanwhile may hide one: for waking checks, never for a verdict.
   * Absent where {@link listeners} is the only way.
   */
  listenersHint?(): Listener[];
  /**
   * Runs `fn` with one snapshot of the process table, the environments and
   * the listeners for all its questions, where a backend takes snapshots
   * (`ps`, `lsof`): for a read-only pass such as `status`, whose questions
   * would otherwise outlive a snapshot and read the table again and again.
   * Absent where every question reads the OS anyway (/proc).
   */
  consistent?<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * CPU (percent of one core, on average since the oldest started) and
   * resident memory (bytes) of a set of processes, or null where this backend
   * does not read them.
   */
  usage?(pids: Iterable<number>): { cpu: number; rss: number } | null;
}

const linux: ProcessInspector = {
  platform: 'linux',
  backend: 'proc',
  canVerify: true,
  completeListeners: true,
  lookup: lookupLinux,
  exists: pidExists,
  kill: sendSignal,
  cmdline: cmdlineLinux,
  cwd: cwdLinux,
  environ: environLinux,
  unit: (pid) => {
    try {
      return systemdUnit(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    } catch {
      return null;
    }
  },
  listPids: listPidsLinux,
  bootId: bootIdLinux,
  pidNamespace: pidNamespaceLinux,
  pidMax: pidMaxLinux,
  listeners: listenersLinux,
  holders: (listeners, pids) => holdersLinux(listeners, pids ?? listPidsLinux()),
  socketActivity: socketActivityLinux,
  listenersHint: listenersHintLinux,
  usage: usageLinux,
};

/** `netstat -ano -p TCP` on Windows; empty if it cannot run. */
function netstat(): string {
  try {
    return execFileSync('netstat', ['-ano', '-p', 'TCP'], {
      encoding: 'utf8',
      timeout: 5_000,
      windowsHide: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return '';
  }
}

/**
 * Windows: no verified identities; listeners and their PIDs from netstat.
 * Also the `none` backend on other systems (`LAUNCHGUARD_BACKEND=none`), which
 * lets the test suite run the Windows behaviour: there listeners are unknown.
 */
function unverified(platform: NodeJS.Platform): ProcessInspector {
  return {
    platform,
    backend: 'none',
    canVerify: false,
    completeListeners: true,
    lookup: () => ({ kind: 'denied' }),
    exists: pidExists,
    kill: sendSignal,
    cmdline: () => null,
    cwd: () => null,
    environ: () => null,
    unit: () => null,
    listPids: () => [],
    bootId: () => null,
    pidNamespace: () => null,
    pidMax: () => 2 ** 32 - 1,
    listeners: (port, family) =>
      platform !== 'win32'
        ? null
        : parseNetstatListeners(netstat()).filter(
            (l) =>
              (port === undefined || l.port === port) &&
              (family === undefined || l.family === family),
          ),
    holders: (listeners, pids) => {
      const held = new Set(listeners.flatMap((l) => l.pids ?? []));
      return pids === undefined ? [...held] : [...pids].filter((p) => held.has(p));
    },
  };
}

const made = new Map<string, ProcessInspector>();

/**
 * The inspector for the running OS: /proc on Linux, `ps`/`lsof` on macOS and
 * the BSDs (and on Linux with `LAUNCHGUARD_BACKEND=portable`), none that can
 * verify on Windows (forced with `LAUNCHGUARD_BACKEND=none`, for tests of the
 * Windows behaviour). One instance per backend and process.
 */
export function systemInspector(
  platform: NodeJS.Platform = process.platform,
  backend: string | undefined = backendSetting(),
): ProcessInspector {
  const none = platform === 'win32' || backend === 'none';
  const portable = backend === 'portable' || platform !== 'linux';
  const key = none ? `none:${platform}` : portable ? `portable:${platform}` : 'linux';
  let inspector = made.get(key);
  if (inspector === undefined) {
    inspector = none ? unverified(platform) : portable ? portableInspector(platform) : linux;
    made.set(key, inspector);
  }
  return inspector;
}
