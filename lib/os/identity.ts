import type { ProcessInspector } from './inspector.js';
import { isDeadState, type ProcInfo } from './proc.js';

/** Who a recorded process was: enough to tell it from a later process with the same PID. */
export interface ProcessIdentity {
  readonly pid: number;
  /** Start time as the inspector reports it (Linux: ticks since boot). */
  readonly startTime: string;
  /** The boot it was started in. */
  readonly bootId: string | null;
  /** The PID namespace it was recorded in. */
  readonly pidNamespace: string | null;
}

/** The verdict on a recorded identity, right now. */
export type Verdict =
  | { readonly kind: 'ours'; readonly info: ProcInfo }
  /** The process is gone (or a zombie): nothing to signal. */
  | { readonly kind: 'gone'; readonly reason: string }
  /** The PID is alive but belongs to another process now. */
  | { readonly kind: 'reused'; readonly info: ProcInfo }
  /** Cannot tell from here (another boot or namespace, no permission): never signal. */
  | { readonly kind: 'unverifiable'; readonly reason: string };

/** The backend an identity was recorded with, from its start time's form. */
function schemeOf(identity: ProcessIdentity): ProcessInspector['backend'] {
  if (identity.startTime.startsWith('lstart:')) return 'ps';
  return /^\d+$/.test(identity.startTime) ? 'proc' : 'none';
}

/**
 * Checks whether `identity` is still the live process it was. `kill(pid, 0)`
 * alone is never proof: EPERM means alive but not ours, a zombie is dead, and
 * a reused PID has another start time. Call it right before every signal.
 */
export function verifyIdentity(identity: ProcessIdentity, inspector: ProcessInspector): Verdict {
  if (!inspector.canVerify)
    return {
      kind: 'unverifiable',
      reason: `process identity cannot be checked on ${inspector.platform}`,
    };
  if (schemeOf(identity) !== inspector.backend) {
    return {
      kind: 'unverifiable',
      reason: 'recorded by the other process backend (LAUNCHGUARD_BACKEND)',
    };
  }
  const boot = inspector.bootId();
  if (identity.bootId !== null && boot !== null && identity.bootId !== boot) {
    return { kind: 'unverifiable', reason: 'recorded in another boot' };
  }
  const ns = inspector.pidNamespace();
  if (identity.pidNamespace !== null && ns !== null && identity.pidNamespace !== ns) {
    return { kind: 'unverifiable', reason: 'recorded in another PID namespace' };
  }
  const found = inspector.lookup(identity.pid);
  if (found.kind === 'gone') return { kind: 'gone', reason: 'exited' };
  if (found.kind === 'denied')
    return { kind: 'unverifiable', reason: 'no permission to inspect it (EPERM)' };
  if (isDeadState(found.info.state)) return { kind: 'gone', reason: 'exited (zombie)' };
  if (found.info.startTime !== identity.startTime) return { kind: 'reused', info: found.info };
  return { kind: 'ours', info: found.info };
}

/** The identity of a live PID now, or null if it is gone or unreadable. */
export function identityOf(pid: number, inspector: ProcessInspector): ProcessIdentity | null {
  const found = inspector.lookup(pid);
  if (found.kind !== 'alive') return null;
  return {
    pid,
    startTime: found.info.startTime,
    bootId: inspector.bootId(),
    pidNamespace: inspector.pidNamespace(),
  };
}

const selves = new WeakMap<ProcessInspector, ProcessIdentity>();

/**
 * This process's own identity, read once per inspector: it never changes
 * while the process runs. Every lock and lease names it; read for each, it
 * was 45 ms of a `down` of 500 services.
 */
export function selfIdentity(inspector: ProcessInspector): ProcessIdentity | null {
  let me = selves.get(inspector);
  if (me === undefined) {
    const read = identityOf(process.pid, inspector);
    if (read === null) return null;
    me = read;
    selves.set(inspector, me);
  }
  return me;
}

/**
 * The launcher's ancestors, and the process groups and sessions that hold
 * the launcher or an ancestor, per inspector: they never change (it never
 * calls setsid), so each is read once. Kept per inspector so that a test's
 * fake never stands in for the real table.
 */
interface SelfView {
  readonly ancestors: ReadonlySet<number>;
  /** Groups and sessions of the launcher and of every ancestor: never signalled as groups. */
  readonly groups: ReadonlySet<number>;
}
const selfViews = new WeakMap<ProcessInspector, SelfView>();

function selfView(inspector: ProcessInspector): SelfView {
  let view = selfViews.get(inspector);
  if (view === undefined) {
    const ancestors = new Set<number>();
    const groups = new Set<number>();
    const self = inspector.lookup(process.pid);
    if (self.kind === 'alive') groups.add(self.info.pgid).add(self.info.sid);
    for (let pid = process.ppid, hops = 0; pid > 1 && hops < 128; hops++) {
      ancestors.add(pid);
      const up = inspector.lookup(pid);
      if (up.kind !== 'alive') break;
      groups.add(up.info.pgid).add(up.info.sid);
      pid = up.info.ppid;
    }
    view = { ancestors, groups };
    selfViews.set(inspector, view);
  }
  return view;
}

/**
 * PIDs that are never signalled, whatever a file says: 0, 1 and negatives,
 * anything above pid_max, the launcher itself, its parent and every other
 * ancestor (a shell, a test runner, a CI agent). Other processes of the
 * launcher's session or group (a server started by hand with `&` in the same
 * shell) are not protected by this: they are judged like any other process.
 */
export function isProtectedPid(pid: number, inspector: ProcessInspector): boolean {
  if (!Number.isInteger(pid) || pid <= 1 || pid > inspector.pidMax()) return true;
  return pid === process.pid || pid === process.ppid || selfView(inspector).ancestors.has(pid);
}

/**
 * Process groups that are never signalled as a whole: those of protected
 * PIDs, and any group or session that holds the launcher or one of its
 * ancestors (signalling it would reach the user's shell or CI agent). A
 * process in such a group is signalled by its PID only.
 */
export function isProtectedGroup(pgid: number, inspector: ProcessInspector): boolean {
  return isProtectedPid(pgid, inspector) || selfView(inspector).groups.has(pgid);
}

/**
 * True if start time `a` is not earlier than `b`, both as the same backend
 * reads them (/proc: clock ticks since boot; ps: `lstart:` dates, to the
 * second). False if they cannot be compared.
 */
export function startedNoEarlier(a: string, b: string): boolean {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return Number(a) >= Number(b);
  const at = (t: string) => (t.startsWith('lstart:') ? Date.parse(t.slice(7)) : Number.NaN);
  const [x, y] = [at(a), at(b)];
  return !Number.isNaN(x) && !Number.isNaN(y) && x >= y;
}
