import type { ProcLookup } from './proc.js';
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
import { bootIdPs, cmdlinePs, environPs, listPidsPs, lookupPs } from './proc-other.js';

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
};

/** The inspector for the running OS. */
export function systemInspector(platform: NodeJS.Platform = process.platform): ProcessInspector {
  if (platform === 'linux') return linux;
  if (platform === 'darwin' || platform === 'freebsd' || platform === 'openbsd')
    return { ...bsd, platform };
  return { ...unsupported, platform };
}
