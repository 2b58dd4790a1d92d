import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
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
  let uid: number | null = null;
  try {
    uid = statSync(`/proc/${pid}`).uid;
  } catch {
    // raced with exit: keep uid unknown
  }
  const info: ProcInfo = { ...parsed, uid };
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

/** One environment variable of a process as it was at exec, or null (unreadable or absent). */
export function environLinux(pid: number, name: string): string | null {
  let raw: Buffer;
  try {
    raw = readFileSync(`/proc/${pid}/environ`);
  } catch {
    return null;
  }
  const prefix = Buffer.from(`${name}=`);
  let start = 0;
  while (start < raw.length) {
    let end = raw.indexOf(0, start);
    if (end < 0) end = raw.length;
    if (raw.subarray(start, start + prefix.length).equals(prefix)) {
      return raw.subarray(start + prefix.length, end).toString('utf8');
    }
    start = end + 1;
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

/** An id of our PID namespace (`pid:[4026531836]`), or null. */
export function pidNamespaceLinux(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}

/** The largest PID the kernel hands out. */
export function pidMaxLinux(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) || 4_194_304;
  } catch {
    return 4_194_304;
  }
}
