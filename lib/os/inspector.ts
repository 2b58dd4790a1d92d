import { holdersLinux, listenersLinux } from './net-linux.js';
import type { Listener, ProcLookup } from './proc.js';
import {
  bootIdLinux,
  cmdlineLinux,
  cwdLinux,
  environLinux,
  listPidsLinux,
  lookupLinux,
  pidMaxLinux,
  pidNamespaceLinux,
} from './proc-linux.js';
import { bootIdPs, cmdlinePs, environPs, listPidsPs, lookupPs } from './proc-ps.js';

/**
 * Everything launchguard reads about processes, behind one interface, so the
 * engine is the same on every OS and tests can pass a fake.
 */
export interface ProcessInspector {
  /** `linux`, `darwin`, `win32`... */
  readonly platform: NodeJS.Platform;
  /** False where identities cannot be verified (then nothing is ever signalled). */
  readonly canVerify: boolean;
  lookup(pid: number): ProcLookup;
  cmdline(pid: number): string[] | null;
  cwd(pid: number): string | null;
  /** One variable of a process's environment as it was at exec. */
  environ(pid: number, name: string): string | null;
  listPids(): number[];
  bootId(): string | null;
  pidNamespace(): string | null;
  pidMax(): number;
  /**
   * Listening TCP sockets, IPv4 and IPv6 (on one port, or all; of one family,
   * or both), whoever owns them; null where the OS cannot list them (then a
   * port is checked by binding it).
   */
  listeners(port?: number, family?: 4 | 6): Listener[] | null;
  /** PIDs among `pids` (default: every process) that hold one of `listeners` open. */
  holders(listeners: readonly Listener[], pids?: Iterable<number>): number[];
}

/** Holders of listeners whose owners came with them (lsof), among `pids`. */
function reportedHolders(listeners: readonly Listener[], pids?: Iterable<number>): number[] {
  const held = new Set(listeners.flatMap((l) => l.pids ?? []));
  return pids === undefined ? [...held] : [...pids].filter((p) => held.has(p));
}

const linux: ProcessInspector = {
  platform: 'linux',
  canVerify: true,
  lookup: lookupLinux,
  cmdline: cmdlineLinux,
  cwd: cwdLinux,
  environ: environLinux,
  listPids: listPidsLinux,
  bootId: bootIdLinux,
  pidNamespace: pidNamespaceLinux,
  pidMax: pidMaxLinux,
  listeners: listenersLinux,
  holders: (listeners, pids) => holdersLinux(listeners, pids ?? listPidsLinux()),
};

const bsd: ProcessInspector = {
  platform: 'darwin',
  canVerify: true,
  lookup: lookupPs,
  cmdline: cmdlinePs,
  cwd: () => null,
  environ: environPs,
  listPids: listPidsPs,
  bootId: bootIdPs,
  pidNamespace: () => null,
  pidMax: () => 99_999,
  listeners: () => null,
  holders: reportedHolders,
};

const unsupported: ProcessInspector = {
  platform: 'win32',
  canVerify: false,
  lookup: () => ({ kind: 'denied' }),
  cmdline: () => null,
  cwd: () => null,
  environ: () => null,
  listPids: () => [],
  bootId: () => null,
  pidNamespace: () => null,
  pidMax: () => 2 ** 32 - 1,
  listeners: () => null,
  holders: reportedHolders,
};

/** The inspector for the running OS. */
export function systemInspector(platform: NodeJS.Platform = process.platform): ProcessInspector {
  if (platform === 'linux') return linux;
  if (platform === 'darwin' || platform === 'freebsd' || platform === 'openbsd')
    return { ...bsd, platform };
  return { ...unsupported, platform };
}
