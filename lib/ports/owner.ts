import type { StopTarget } from '../process/stop.js';
import { findMarked, groupMembers } from '../process/sweep.js';
import type { ProcessInspector } from '../state/inspector.js';
import { listPidsLinux } from '../state/proc-linux.js';
import { holdersOf, linuxListeners, socketInodes } from './listeners.js';

/** Whether the listener on a port belongs to an instance's process tree. */
export type Ownership =
  | { readonly owned: true }
  | { readonly owned: false; readonly holder: number | null };

/**
 * Checks that whoever listens on `port` is a process of `target` (its leader,
 * its process group, or a process carrying its marker), so that a stale server
 * on the port cannot make a new start look ready. Linux reads /proc; elsewhere
 * the check cannot be made and the answer is `owned` (see README, Limits).
 */
export function listenerOwnership(
  port: number,
  target: StopTarget,
  inspector: ProcessInspector,
  family?: 4 | 6,
): Ownership {
  if (inspector.platform !== 'linux') return { owned: true };
  const leader = socketInodes(target.pid);
  const leads = (inodes: Set<number>) => leader !== null && [...inodes].some((i) => leader.has(i));
  // Fast path: the family that answered, and the leader itself (one /proc/net read).
  if (family !== undefined && leads(new Set(linuxListeners(port, family).map((l) => l.inode))))
    return { owned: true };
  const inodes = new Set(linuxListeners(port).map((l) => l.inode));
  if (inodes.size === 0) return { owned: false, holder: null };
  if (leads(inodes)) return { owned: true };
  const tree = new Set(groupMembers(target.pgid, inspector).map((m) => m.pid));
  if (target.instance !== '') {
    const stack = target.instance.split('/')[0] ?? '';
    for (const m of findMarked({ stack, instance: target.instance }, inspector))
      tree.add(m.info.pid);
  }
  if (holdersOf(inodes, tree).length > 0) return { owned: true };
  const others = holdersOf(
    inodes,
    listPidsLinux().filter((p) => p !== process.pid),
  );
  return { owned: false, holder: others[0] ?? null };
}
