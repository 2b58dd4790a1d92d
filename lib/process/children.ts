import type { ChildProcess } from 'node:child_process';

/**
 * The services this launcher spawned and has not reaped yet, by PID. Such a
 * PID cannot have been reused (its process is ours until we reap it), so it
 * is provably ours even where the OS gives no verifiable identity (Windows):
 * there, it is the only thing a launcher may stop.
 */
const unreaped = new Map<number, ChildProcess>();

/** Remembers a spawned child until it exits. */
export function adoptChild(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  unreaped.set(pid, child);
  child.once('exit', () => unreaped.delete(pid));
}

/** The unreaped child with this PID, if this launcher spawned it. */
export function ownChild(pid: number): ChildProcess | undefined {
  return unreaped.get(pid);
}
