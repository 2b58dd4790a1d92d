import {
  closeSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  statSync,
} from 'node:fs';
import { errnoCode } from '../errors.js';
import { type ProcInfo, type ProcLookup, parseProcStat } from './proc.js';

/** Linux: everything from /proc, no external tools. */

function lookupErrno(error: unknown): ProcLookup {
  const code = errnoCode(error);
  if (code === 'EACCES' || code === 'EPERM') return { kind: 'denied' };
  return { kind: 'gone' };
}

/** Reads one process from /proc/PID/stat (plus its owner uid). */
export function lookupLinux(pid: number): ProcLookup {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    return lookupErrno(error);
  }
  const parsed = parseProcStat(pid, text);
  if (parsed === null) return { kind: 'gone' };
  // The owner costs a stat and is rarely needed: read it on first use.
  let uid: number | null | undefined;
  const info = Object.defineProperty({ ...parsed }, 'uid', {
    enumerable: true,
    get(): number | null {
      if (uid === undefined) {
        try {
          uid = statSync(`/proc/${pid}`).uid;
        } catch {
          uid = null; // raced with exit: unknown
        }
      }
      return uid;
    },
  }) as ProcInfo;
  return { kind: 'alive', info };
}

/** The command line of a process as argv, or null if unreadable. */
export function cmdlineLinux(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (raw === '') return null; // kernel threads and zombies
    return raw.replace(/\0$/, '').split('\0');
  } catch {
    return null;
  }
}

/** The working directory of a process, or null if unreadable. */
export function cwdLinux(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return null;
  }
}

let scratch = Buffer.allocUnsafe(64 * 1024);

/** Reads a whole /proc file into the shared scratch buffer; returns its length, or -1. */
function readScratch(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return -1;
  }
  try {
    let length = 0;
    for (;;) {
      if (length === scratch.length) {
        const bigger = Buffer.allocUnsafe(scratch.length * 2);
        scratch.copy(bigger);
        scratch = bigger;
      }
      const n = readSync(fd, scratch, length, scratch.length - length, null);
      if (n <= 0) return length;
      length += n;
    }
  } catch {
    return -1;
  } finally {
    closeSync(fd);
  }
}

/**
 * One environment variable of a process as it was at exec, or null
 * (unreadable or absent). Called for every process by the sweep, so it reads
 * into one reused buffer and searches it without copying.
 */
export function environLinux(pid: number, name: string): string | null {
  const length = readScratch(`/proc/${pid}/environ`);
  if (length <= 0) return null;
  const raw = scratch.subarray(0, length);
  const prefix = `${name}=`;
  let at = raw.indexOf(prefix, 0, 'latin1');
  while (at >= 0) {
    if (at === 0 || raw[at - 1] === 0) {
      let end = raw.indexOf(0, at);
      if (end < 0) end = length;
      return raw.toString('utf8', at + prefix.length, end);
    }
    at = raw.indexOf(prefix, at + 1, 'latin1');
  }
  return null;
}

/** Every PID currently in /proc. */
export function listPidsLinux(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (/^\d+$/.test(name)) pids.push(Number(name));
  }
  return pids;
}

let cachedBootId: string | null | undefined;
/** The kernel's boot id; changes at every boot. */
export function bootIdLinux(): string | null {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId;
}

let cachedNamespace: string | null | undefined;
let cachedPidMax: number | undefined;

/** An id of our PID namespace (`pid:[4026531836]`), or null. Read once. */
export function pidNamespaceLinux(): string | null {
  if (cachedNamespace === undefined) {
    try {
      cachedNamespace = readlinkSync('/proc/self/ns/pid');
    } catch {
      cachedNamespace = null;
    }
  }
  return cachedNamespace;
}

/** The largest PID the kernel hands out. Read once. */
export function pidMaxLinux(): number {
  if (cachedPidMax === undefined) {
    try {
      cachedPidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) || 4_194_304;
    } catch {
      cachedPidMax = 4_194_304;
    }
  }
  return cachedPidMax;
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux this runs on). */
const TICKS = 100;
/** Bytes per page of /proc's rss (4 KiB on x86-64 and arm64 defaults). */
const PAGE = 4096;

/**
 * CPU and memory of a set of processes (a service's tree), from the /proc
 * reads `status` makes anyway: `cpu` is the percentage of one core the set
 * used on average since its oldest member started (one read, no sampling
 * window), `rss` the resident bytes of all of them. Null if none is readable.
 */
export function usageLinux(pids: Iterable<number>): { cpu: number; rss: number } | null {
  let uptime: number;
  try {
    uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
  let ticks = 0;
  let pages = 0;
  let oldest = Number.POSITIVE_INFINITY;
  for (const pid of pids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Field n is rest[n - 3]: utime 14, stime 15, starttime 22, rss 24.
    ticks += Number(rest[11]) + Number(rest[12]);
    pages += Number(rest[21]);
    oldest = Math.min(oldest, Number(rest[19]) / TICKS);
  }
  if (oldest === Number.POSITIVE_INFINITY) return null;
  const lived = Math.max(uptime - oldest, 0.01);
  return { cpu: Math.round((ticks / TICKS / lived) * 1000) / 10, rss: pages * PAGE };
}
