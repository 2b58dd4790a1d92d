import { execFileSync } from 'node:child_process';
import type { ProcInfo, ProcLookup } from './proc.js';

/**
 * macOS and other BSD-like systems: `ps`. Written to the documented `ps`
 * interface but not run in this project's CI (Linux only); see the README's
 * Limits. Windows has no reader yet: every lookup there is "denied", so
 * records are reported as unverifiable and nothing is signalled.
 */

function ps(args: readonly string[]): string | null {
  try {
    return execFileSync('ps', args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 2000,
    });
  } catch {
    return null;
  }
}

/** Looks a process up with `ps -o pid=,ppid=,pgid=,uid=,stat=,lstart=,comm=`. */
export function lookupPs(pid: number): ProcLookup {
  const out = ps(['-o', 'pid=,ppid=,pgid=,uid=,stat=,lstart=,comm=', '-p', String(pid)]);
  if (out === null || out.trim() === '') return { kind: 'gone' };
  // lstart is five words: "Thu Nov 26 13:30:18 2026"
  const m =
    /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+\s+\S+\s+\d+\s+[\d:]+\s+\d+)\s+(.*)$/.exec(
      out.trim(),
    );
  if (!m) return { kind: 'gone' };
  const info: ProcInfo = {
    pid,
    ppid: Number(m[2]),
    pgid: Number(m[3]),
    uid: Number(m[4]),
    state: (m[5] ?? '?').charAt(0),
    startTime: m[6] ?? '',
    sid: 0,
    comm: m[7] ?? '',
  };
  return { kind: 'alive', info };
}

/** The command line via `ps -o command=` (split on spaces: approximate). */
export function cmdlinePs(pid: number): string[] | null {
  const out = ps(['-o', 'command=', '-p', String(pid)]);
  return out === null || out.trim() === '' ? null : out.trim().split(/\s+/);
}

/** One environment variable via `ps eww` (own processes only). */
export function environPs(pid: number, name: string): string | null {
  const out = ps(['eww', '-o', 'command=', '-p', String(pid)]);
  if (out === null) return null;
  const m = new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(out);
  return m?.[1] ?? null;
}

/** Every PID via `ps -A -o pid=`. */
export function listPidsPs(): number[] {
  const out = ps(['-A', '-o', 'pid=']);
  return out === null
    ? []
    : out
        .split('\n')
        .map(Number)
        .filter((n) => Number.isInteger(n) && n > 0);
}

/** The boot time via `sysctl -n kern.boottime`, as a boot id. */
export function bootIdPs(): string | null {
  try {
    return execFileSync('sysctl', ['-n', 'kern.boottime'], {
      encoding: 'utf8',
      timeout: 2000,
    }).trim();
  } catch {
    return null;
  }
}
