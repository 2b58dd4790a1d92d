import type { ProcessInspector } from '../os/inspector.js';
import type { StopTarget } from '../process/stop.js';
import { findMarked, groupMembers } from '../process/sweep.js';

/** Whether the listener on a port belongs to an instance's process tree. */
export type Ownership =
  | { readonly owned: true }
  | { readonly owned: false; readonly holder: number | null };

/**
 * Checks that whoever listens on `port` is a process of `target` (its leader,
 * its process group, or a process carrying its marker), so that a stale server
 * on the port cannot make a new start look ready. Where the OS cannot list
 * listeners (Windows), the check cannot be made and the answer is `owned`
 * (see README, Limits).
 */
export function listenerOwnership(
  port: number,
  target: StopTarget,
  inspector: ProcessInspector,
  family?: 4 | 6,
): Ownership {
  // Fast path: the family that answered, held by the leader itself (one listener read).
  if (family !== undefined) {
    const answered = inspector.listeners(port, family, true);
    if (answered === null) return { owned: true };
    if (inspector.holders(answered, [target.pid]).length > 0) return { owned: true };
  }
  const listeners = inspector.listeners(port);
  if (listeners === null) return { owned: true };
  if (listeners.length === 0) return { owned: false, holder: null };
  if (inspector.holders(listeners, [target.pid]).length > 0) return { owned: true };
  const tree = new Set(groupMembers(target.pgid, inspector).map((m) => m.pid));
  if (target.instance !== '') {
    const stack = target.instance.split('/')[0] ?? '';
    for (const m of findMarked({ stack, instance: target.instance }, inspector))
      tree.add(m.info.pid);
  }
  if (inspector.holders(listeners, tree).length > 0) return { owned: true };
  const others = inspector.holders(
    listeners,
    inspector.listPids().filter((p) => p !== process.pid),
  );
  return { owned: false, holder: others[0] ?? null };
}
