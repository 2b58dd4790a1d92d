/**
 * What launchguard knows about a live process, read from the OS. The Linux
 * reader uses /proc; macOS and Windows readers sit beside it (see
 * `inspector.ts`). Fields a platform cannot provide are null.
 */
export interface ProcInfo {
  readonly pid: number;
  /** One-letter state (`R`, `S`, `Z`...); `Z` and `X` mean dead. */
  readonly state: string;
  readonly ppid: number;
  readonly pgid: number;
  readonly sid: number;
  /**
   * Start time in an OS-specific unit (Linux: clock ticks since boot, field 22
   * of /proc/PID/stat), as a string. Compared for equality only.
   */
  readonly startTime: string;
  readonly uid: number | null;
  /** The program name (Linux: comm, may contain spaces and parentheses). */
  readonly comm: string;
}

/** The result of looking a PID up. */
export type ProcLookup =
  | { readonly kind: 'alive'; readonly info: ProcInfo }
  | { readonly kind: 'gone' }
  /** Exists, but we may not read it (another user, hidepid). */
  | { readonly kind: 'denied' };

/** True for states that mean the process has exited (zombie, dead). */
export function isDeadState(state: string): boolean {
  return state === 'Z' || state === 'X' || state === 'x';
}

/**
 * Parses /proc/PID/stat. The comm field (2) may contain spaces and `)`, so the
 * fields after it are taken after the *last* `)`. Returns null on malformed input.
 */
export function parseProcStat(pid: number, text: string): ProcInfo | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field n is rest[n - 3].
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgid = Number(rest[2]);
  const sid = Number(rest[3]);
  const startTime = rest[19];
  if (state === undefined || startTime === undefined || !/^\d+$/.test(startTime)) return null;
  if (![ppid, pgid, sid].every(Number.isInteger)) return null;
  return { pid, state, ppid, pgid, sid, startTime, uid: null, comm: text.slice(open + 1, close) };
}

/** A listening TCP socket, as the kernel reports it. */
export interface Listener {
  readonly port: number;
  /** The local address, printable (`127.0.0.1`, `::`, `::1`...). */
  readonly address: string;
  readonly family: 4 | 6;
  /** Socket inode (Linux), used to find the owning process; 0 where the OS has none. */
  readonly inode: number;
  /** The PIDs holding the socket, where the OS reports them with the socket (lsof); else null. */
  readonly pids?: readonly number[] | null;
  /** Owner uid of the socket, when known. */
  readonly uid: number | null;
}

/** Sends a signal to a process (or a group: a negative PID); see `ProcessInspector.kill`. */
export function sendSignal(pid: number, signal: NodeJS.Signals | 0): void {
  process.kill(pid, signal);
}

/**
 * `kill(pid, 0)`: sends nothing; ESRCH means gone, EPERM means alive (not
 * ours). The one place that asks whether a PID exists without an identity.
 */
export function pidExists(pid: number): boolean {
  try {
    sendSignal(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
