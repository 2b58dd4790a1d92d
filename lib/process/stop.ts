import { setTimeout as sleep } from 'node:timers/promises';
import { faultPoint } from '../fault.js';
import { isProtectedPid, type ProcessIdentity, verifyIdentity } from '../state/identity.js';
import type { ProcessInspector } from '../state/inspector.js';
import { MARKER_ENV } from './marker.js';
import { findMarked, groupMembers } from './sweep.js';

/** What a stop needs to know about the instance (a subset of its record). */
export interface StopTarget extends ProcessIdentity {
  readonly service: string;
  readonly pgid: number;
  /**
   * The marker all its processes carry; `''` for a process launchguard did not
   * start (an unmarked earlier instance, a foreign holder stopped with `--force`).
   */
  readonly instance: string;
}

/** Options of {@link stopInstance}. */
export interface StopOptions {
  readonly inspector: ProcessInspector;
  /** The polite signal. @default 'SIGTERM' */
  readonly signal?: NodeJS.Signals;
  /** Wait this long (ms) after the polite signal before SIGKILL. @default 10000 */
  readonly timeout?: number;
  /** Wait this long (ms) after SIGKILL for the kernel to tear processes down. @default 2000 */
  readonly killGrace?: number;
  /** When aborted, stop waiting for a polite exit and send SIGKILL at once (a second Ctrl-C). */
  readonly hurry?: AbortSignal;
  /** The kill function (a seam for tests). @default process.kill */
  readonly kill?: (pid: number, signal: NodeJS.Signals) => void;
}

/** What a stop did. */
export interface StopReport {
  readonly service: string;
  readonly pid: number;
  /**
   * - `stopped`: everything exited (after SIGKILL if `forced`).
   * - `gone`: nothing of the instance was running.
   * - `unverifiable`: its identity could not be checked; nothing was signalled.
   * - `survivors`: processes outlived SIGKILL (or could not be signalled); see `survivors`.
   */
  readonly outcome: 'stopped' | 'gone' | 'unverifiable' | 'survivors';
  /** True if SIGKILL had to be sent after the timeout. */
  readonly forced: boolean;
  readonly durationMs: number;
  /** PIDs still alive at the end. */
  readonly survivors: readonly number[];
  /** Why, for `unverifiable`. */
  readonly reason?: string;
}

/** The processes of an instance that are still alive, and whether its group is provably ours. */
function census(
  target: StopTarget,
  inspector: ProcessInspector,
): { group: boolean; pids: number[] } {
  const members = isProtectedPid(target.pgid, inspector)
    ? []
    : groupMembers(target.pgid, inspector);
  // The group is ours if its leader still is, or a member carries our marker: a group id
  // cannot be reused while any member lives, so such a group is still the one we made.
  const leaderOurs = verifyIdentity(target, inspector).kind === 'ours';
  const group =
    leaderOurs || members.some((m) => inspector.environ(m.pid, MARKER_ENV) === target.instance);
  const pids = new Set(group ? members.map((m) => m.pid) : []);
  if (leaderOurs) pids.add(target.pid);
  if (target.instance !== '') {
    const stack = target.instance.split('/')[0] ?? '';
    for (const marked of findMarked({ stack, instance: target.instance }, inspector))
      pids.add(marked.info.pid);
  }
  return { group, pids: [...pids].sort((a, b) => a - b) };
}

function send(
  target: StopTarget,
  signal: NodeJS.Signals,
  inspector: ProcessInspector,
  kill: (pid: number, signal: NodeJS.Signals) => void,
  counted: { group: boolean; pids: number[] } = census(target, inspector),
): void {
  const { group, pids } = counted;
  const trySend = (pid: number) => {
    try {
      kill(pid, signal);
    } catch {
      // ESRCH: already gone. EPERM: not ours to signal; it is counted as a survivor.
    }
  };
  if (group && !isProtectedPid(target.pgid, inspector)) trySend(-target.pgid);
  for (const pid of pids) {
    const looked = inspector.lookup(pid);
    if (looked.kind !== 'alive' || (group && looked.info.pgid === target.pgid)) continue;
    if (isProtectedPid(pid, inspector)) continue;
    // The leader itself (re-verified), or a process outside the group (setsid,
    // re-parented): signal only after re-reading its marker.
    const verified =
      pid === target.pid
        ? verifyIdentity(target, inspector).kind === 'ours'
        : target.instance !== '' && inspector.environ(pid, MARKER_ENV) === target.instance;
    if (verified) trySend(pid);
  }
}

/** True while any process is in the group (signal 0 delivers nothing; ESRCH means empty). */
function groupExists(pgid: number, inspector: ProcessInspector): boolean {
  if (isProtectedPid(pgid, inspector)) return false;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Waits until nothing of the instance is left, or `ms` passes. Polls cheaply
 * (the leader's identity and whether its group still has members) and runs
 * the full census (a /proc scan for marked processes that left the group)
 * only when the cheap check says empty, every 100 ms, and at the end.
 */
async function waitEmpty(
  target: StopTarget,
  inspector: ProcessInspector,
  ms: number,
  hurry?: AbortSignal,
): Promise<number[]> {
  const deadline = Date.now() + ms;
  let pause = 1;
  let lastCensus = Date.now();
  for (;;) {
    // A group that still "exists" may hold only zombies (an init that reaps slowly):
    // then look at its members' states, a cheaper scan than the full census.
    const quiet =
      verifyIdentity(target, inspector).kind !== 'ours' &&
      (!groupExists(target.pgid, inspector) ||
        isProtectedPid(target.pgid, inspector) ||
        groupMembers(target.pgid, inspector).length === 0);
    const over = Date.now() >= deadline || hurry?.aborted === true;
    if (quiet || over || Date.now() - lastCensus >= 100) {
      lastCensus = Date.now();
      const { pids } = census(target, inspector);
      if (pids.length === 0 || over) return pids;
    }
    await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
    pause = Math.min(pause * 2, 25);
  }
}

/**
 * The stop ladder: verify the instance's identity, send `signal` to its process
 * group and to every process carrying its marker outside the group, wait until
 * the group is empty and no marked process is left, SIGKILL what remains after
 * `timeout`, and report. Never signals group 0 or 1, the launcher's own group or
 * session, or a group that is not provably the instance's.
 */
export async function stopInstance(target: StopTarget, options: StopOptions): Promise<StopReport> {
  const { inspector } = options;
  const kill = options.kill ?? ((pid: number, sig: NodeJS.Signals) => process.kill(pid, sig));
  const started = Date.now();
  const report = (
    outcome: StopReport['outcome'],
    forced: boolean,
    survivors: number[],
    reason?: string,
  ): StopReport => ({
    service: target.service,
    pid: target.pid,
    outcome,
    forced,
    durationMs: Date.now() - started,
    survivors,
    ...(reason === undefined ? {} : { reason }),
  });
  const verdict = verifyIdentity(target, inspector);
  if (verdict.kind === 'unverifiable') return report('unverifiable', false, [], verdict.reason);
  const first = census(target, inspector);
  if (first.pids.length === 0) return report('gone', false, []);
  send(target, options.signal ?? 'SIGTERM', inspector, kill, first);
  faultPoint('after-stop-signal');
  let left = await waitEmpty(target, inspector, options.timeout ?? 10_000, options.hurry);
  if (left.length === 0) return report('stopped', false, []);
  send(target, 'SIGKILL', inspector, kill);
  left = await waitEmpty(target, inspector, options.killGrace ?? 2_000);
  return report(left.length === 0 ? 'stopped' : 'survivors', true, left);
}
