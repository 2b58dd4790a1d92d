import { type ChildProcess, spawnSync } from 'node:child_process';
import { DEFAULTS } from '../config/resolve.js';
import type { ResolvedService } from '../config/types.js';
import { delay } from '../delay.js';
import { faultPoint } from '../fault.js';
import {
  isProtectedGroup,
  isProtectedPid,
  type ProcessIdentity,
  verifyIdentity,
} from '../os/identity.js';
import type { ProcessInspector } from '../os/inspector.js';
import { isDeadState, type ProcInfo } from '../os/proc.js';
import { effectiveUid, userName } from '../os/users.js';
import { MARKER_ENV, parseMarker } from '../state/marker.js';
import { ownChild } from './children.js';
import { findMarked, groupMembers, type MarkedProcess, type ProcessTable } from './sweep.js';

/** What a stop needs to know about the instance (a subset of its record). */
export interface StopTarget extends ProcessIdentity {
  readonly service: string;
  readonly pgid: number;
  /**
   * The marker all its processes carry; `''` for a process launchguard did not
   * start (an unmarked earlier instance, a foreign holder stopped with `--force`).
   */
  readonly instance: string;
  /**
   * True when the target comes from a record in a checked state folder (only
   * this user can have written it): its leader may then be signalled even if
   * it runs as another user now (a service that dropped privileges). A target
   * found by its marker or on a port, which anyone can fake, never reaches
   * another user's process.
   */
  readonly recorded?: boolean;
}

/** `process.kill`: a signal, or 0 to probe whether a process or group exists. */
type KillFn = (pid: number, signal: NodeJS.Signals | 0) => void;

/** How long to wait after SIGKILL for the kernel to tear processes down, ms. */
const KILL_GRACE = 2_000;

/**
 * The stop ladder's options for a service: its `stopSignal`, its
 * `stopTimeout` (or `timeout`, e.g. 0 to SIGKILL at once), and `hurry`.
 */
export function stopOptionsFor(
  svc: ResolvedService,
  inspector: ProcessInspector,
  extra: {
    readonly timeout?: number;
    readonly hurry?: AbortSignal;
    readonly table?: ProcessTable;
    readonly wave?: WaveMember;
  } = {},
): StopOptions {
  return {
    inspector,
    killSignal: svc.stopSignal,
    timeout: extra.timeout ?? svc.stopTimeout,
    ...(extra.hurry === undefined ? {} : { hurry: extra.hurry }),
    ...(extra.table === undefined ? {} : { table: extra.table }),
    ...(extra.wave === undefined ? {} : { wave: extra.wave }),
  };
}

/** One stop's part in a {@link stopWave}. */
export interface WaveMember {
  /** Says this stop is about to signal, or will signal nothing (it ended, or failed). Idempotent. */
  arrive(): void;
  /**
   * Settles once every member arrived, or {@link WAVE_CAP} ms after this
   * member did, with that moment (`performance.now()` clock).
   */
  passed(): Promise<number>;
  /**
   * Runs `send` with the sends of the other members that counted in this turn
   * of the event loop (see {@link WaveSend}); settles once it ran (rejects if
   * a part of it threw: only this member's remaining parts are skipped).
   */
  signal(send: WaveSend): Promise<void>;
}

/**
 * A wave member's send, in the parts a wave runs apart: first every member's
 * `verify`, then every `send`, one after the other with nothing between them,
 * then every `after`. Each signal wakes a service, which on a busy machine
 * takes the core from the sends still to make; so the sends of a batch go out
 * in one tight run, and the reads they need come before or after it.
 */
interface WaveSend {
  /** Reads again what the send relies on, right before the run of sends (the group's leader). */
  readonly verify?: () => void;
  /** The signal itself (a process group's). */
  readonly send: () => void;
  /** What is signalled after the run: single processes, each checked right before its signal. */
  readonly after?: () => void;
}

/** The longest a stop that is ready to signal waits for the others of its wave, ms. */
const WAVE_CAP = 100;

/**
 * The most sends of a wave run between their leaders' checks and their
 * signals: 32 reads of /proc take about 1-2 ms, the longest a verified leader
 * waits for its signal.
 */
const WAVE_CHUNK = 32;

/**
 * Stops that begin together (a `down` of many services, one dependency level
 * at a time) signal together: each reads its state and ends its leases, then
 * waits for the others to get as far; then all count their processes from
 * one read of the shared process table, made after that moment, and signal
 * in one run once all have counted (see `WaveMember.signal`). Before, each
 * stop's looks at its exited processes (a /proc scan each) and table reads
 * ran between the later stops' signals: `down` of 20 sent its 20 SIGTERMs
 * over 30 ms (2-core VM). Then, with each stop counting and signalling in
 * turn, over 13-20 ms: each signal wakes a service, which takes a core from
 * the counts still to make. A member that waits on something else first (a
 * lock another launcher holds) holds the others back at most
 * {@link WAVE_CAP} ms; their stop timeouts count from then.
 */
export function stopWave(size: number): () => WaveMember {
  let waiting = size;
  let open!: (at: number) => void;
  const all = new Promise<number>((resolve) => {
    open = resolve;
  });
  if (waiting <= 0) open(performance.now());
  // The sends of the members that counted in one turn of the event loop: the members the
  // wave's opening resumed all count in that turn, and their sends run after it.
  let batch: { send: WaveSend; done: () => void; failed: (e: unknown) => void }[] = [];
  const flush = () => {
    const run = batch;
    batch = [];
    // In chunks: a leader verified at the start of a chunk is signalled within its run.
    for (let i = 0; i < run.length; i += WAVE_CHUNK) {
      const chunk = run.slice(i, i + WAVE_CHUNK);
      const failures = new Map<number, unknown>();
      for (const part of ['verify', 'send', 'after'] as const)
        chunk.forEach((member, j) => {
          if (failures.has(j)) return;
          try {
            member.send[part]?.();
          } catch (error) {
            failures.set(j, error);
          }
        });
      chunk.forEach(({ done, failed }, j) => {
        if (failures.has(j)) failed(failures.get(j));
        else done();
      });
    }
  };
  const signal = (send: WaveSend) =>
    new Promise<void>((done, failed) => {
      if (batch.length === 0) setImmediate(flush);
      batch.push({ send, done, failed });
    });
  return () => {
    let arrived = false;
    return {
      arrive() {
        if (arrived) return;
        arrived = true;
        if (--waiting === 0) open(performance.now());
      },
      passed: () =>
        waiting === 0
          ? all
          : new Promise<number>((resolve) => {
              const timer = setTimeout(() => resolve(performance.now()), WAVE_CAP);
              void all.then((at) => {
                clearTimeout(timer);
                resolve(at);
              });
            }),
      signal,
    };
  };
}

/** The stop target of a process found by its marker (a leftover, or an orphan holder). */
export function markedTarget(
  m: MarkedProcess,
  service: string,
  inspector: ProcessInspector,
): StopTarget {
  return {
    service,
    pid: m.info.pid,
    pgid: m.info.pgid,
    instance: m.marker,
    startTime: m.info.startTime,
    bootId: inspector.bootId(),
    pidNamespace: inspector.pidNamespace(),
  };
}

/** A process that was not signalled because it belongs to another user. */
export interface Untouched {
  readonly pid: number;
  readonly user: string;
  readonly command: string;
}

/** Options of {@link stopInstance}; {@link stopOptionsFor} builds them from a service. */
export interface StopOptions {
  readonly inspector: ProcessInspector;
  /**
   * A process table shared with concurrent stops (see `processTable`): one
   * `down` of many services scans the table once per few ms, not once per
   * service and poll.
   */
  readonly table?: ProcessTable;
  /** The polite signal (the service's `stopSignal`). @default 'SIGTERM' */
  readonly killSignal?: NodeJS.Signals;
  /** Wait this long (ms) after the polite signal before SIGKILL. @default 10000 */
  readonly timeout?: number;
  /** When aborted, stop waiting for a polite exit and send SIGKILL at once (a second Ctrl-C). */
  readonly hurry?: AbortSignal;
  /** The kill function (a seam for tests). @default the inspector's `kill` */
  readonly kill?: KillFn;
  /** Stops begun together: they signal together ({@link stopWave}). */
  readonly wave?: WaveMember;
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
   * - `refused`: all that runs belongs to another user; nothing was signalled (see `refused`).
   */
  readonly outcome: 'stopped' | 'gone' | 'unverifiable' | 'survivors' | 'refused';
  /** True if SIGKILL had to be sent after the timeout. */
  readonly forced: boolean;
  readonly durationMs: number;
  /** PIDs still alive at the end. */
  readonly survivors: readonly number[];
  /** Processes carrying the instance's marker that belong to another user: never signalled. */
  readonly refused: readonly Untouched[];
  /** Why, for `unverifiable`. */
  readonly reason?: string;
}

/**
 * Whether launchguard may signal this process for `target`: it belongs to
 * the launcher's user, or it is the leader of a recorded instance.
 */
function mayTouch(info: ProcInfo, target: StopTarget): boolean {
  const me = effectiveUid();
  if (me === null || info.uid === me) return true;
  return target.recorded === true && info.pid === target.pid;
}

/** One line about a process left alone because it belongs to another user. */
export function describeUntouched(service: string, u: Untouched): string {
  return `pid ${u.pid} (${u.command}, user ${u.user}) carries ${service}'s marker but belongs to another user: not signalled (launchguard never stops another user's process)`;
}

function untouched(info: ProcInfo, inspector: ProcessInspector): Untouched {
  return {
    pid: info.pid,
    user: userName(info.uid),
    command: inspector.cmdline(info.pid)?.join(' ') ?? info.comm,
  };
}

/** The live processes of an instance, and whether its process group is provably its own. */
interface Census {
  /** Signal the group as a whole (`kill(-pgid)`). */
  readonly group: boolean;
  /**
   * The leader was just seen leading the group and its session: a session
   * leader cannot leave its group (setpgid fails), so the group signal
   * reaches it, and it is not looked up again after that signal.
   */
  readonly leaderStays?: boolean;
  readonly pids: number[];
  readonly refused: Untouched[];
}

/**
 * Counts what is left of an instance. The group is signalled as a whole only
 * when it is provably the instance's: its recorded leader is alive, verified
 * (identity) and may be touched, and leads that very group now (the pgid is
 * read from the process, never taken from a file); or the group was proven
 * so earlier in this stop (`proven`) and a member still carries the
 * instance's marker (a group id is not reused while any member lives).
 * Otherwise only single verified processes are signalled.
 */
function census(
  target: StopTarget,
  inspector: ProcessInspector,
  proven: boolean,
  table?: ProcessTable,
  since?: number,
): Census {
  const verdict = verifyIdentity(target, inspector);
  const leader = verdict.kind === 'ours' ? verdict.info : null;
  const refused: Untouched[] = [];
  const leaderOk = leader !== null && mayTouch(leader, target);
  if (leader !== null && !leaderOk) refused.push(untouched(leader, inspector));
  const groupable = target.pgid === target.pid && !isProtectedGroup(target.pgid, inspector);
  // A shared table may be up to its ttl old: what it lists is looked at again, so that an
  // exit since its read is seen now, not at its next read.
  const live = (info: ProcInfo) => table === undefined || stillRuns(info, inspector);
  const members = groupable ? groupMembers(target.pgid, inspector, table, since).filter(live) : [];
  const group =
    groupable &&
    ((leaderOk && leader.pgid === target.pgid) ||
      (proven && carriesMarker(members, target, inspector)));
  const pids = new Set(group ? members.map((m) => m.pid) : []);
  if (leaderOk) pids.add(target.pid);
  for (const info of markedOutside(target, pids, inspector, table, since)) {
    if (!live(info)) continue;
    if (mayTouch(info, target)) pids.add(info.pid);
    else refused.push(untouched(info, inspector));
  }
  return { group, pids: [...pids].sort((a, b) => a - b), refused };
}

/** True unless the process `info` describes has exited (or its PID is another's now). */
function stillRuns(info: ProcInfo, inspector: ProcessInspector): boolean {
  const now = inspector.lookup(info.pid);
  if (now.kind === 'gone') return false;
  if (now.kind === 'denied') return true;
  return !isDeadState(now.info.state) && now.info.startTime === info.startTime;
}

/** True if one of `members` still carries the instance's marker. */
function carriesMarker(
  members: readonly ProcInfo[],
  target: StopTarget,
  inspector: ProcessInspector,
): boolean {
  if (target.instance === '') return false;
  return members.some((m) => inspector.environ(m.pid, MARKER_ENV) === target.instance);
}

/** Processes carrying the instance's marker that are not among `counted` (setsid, re-parented). */
function markedOutside(
  target: StopTarget,
  counted: ReadonlySet<number>,
  inspector: ProcessInspector,
  table?: ProcessTable,
  since?: number,
): ProcInfo[] {
  const stack = parseMarker(target.instance)?.stack;
  if (stack === undefined) return [];
  return findMarked({ stack, instance: target.instance }, inspector, table, since)
    .map((m) => m.info)
    .filter((info) => !counted.has(info.pid));
}

/**
 * `counted`, with its group still to be signalled as a whole only if the
 * leader is, at this moment, the verified process and leads that group: in a
 * wave, a census and its send are up to a few ms apart (the other members
 * count in between). Without the group, its members are signalled one by
 * one, each after its marker is read again (see `send`).
 */
function stillLeads(target: StopTarget, inspector: ProcessInspector, counted: Census): Census {
  if (!counted.group) return counted;
  const verdict = verifyIdentity(target, inspector);
  if (verdict.kind === 'ours' && verdict.info.pgid === target.pgid)
    return verdict.info.sid === target.pid && target.pid === target.pgid
      ? { ...counted, leaderStays: true }
      : counted;
  return { ...counted, group: false };
}

/** What a send needs besides the census: the instance, the signal, the table, the kill. */
interface Sender {
  readonly target: StopTarget;
  readonly signal: NodeJS.Signals;
  readonly inspector: ProcessInspector;
  readonly kill: KillFn;
}

function send(sender: Sender, counted: Census): void {
  sendGroup(sender, counted);
  sendSingles(sender, counted);
}

function trySend(kill: KillFn, pid: number, signal: NodeJS.Signals): void {
  try {
    kill(pid, signal);
  } catch {
    // ESRCH: already gone. EPERM: not ours to signal; it is counted as a survivor.
  }
}

/** Signals the instance's verified group, if the census proved it (see {@link stillLeads}). */
function sendGroup({ target, signal, inspector, kill }: Sender, counted: Census): void {
  if (counted.group && !isProtectedGroup(target.pgid, inspector))
    trySend(kill, -target.pgid, signal);
}

/** Signals the counted processes the group signal did not reach, each checked first. */
function sendSingles({ target, signal, inspector, kill }: Sender, counted: Census): void {
  const { group, pids } = counted;
  for (const pid of pids) {
    if (group && counted.leaderStays === true && pid === target.pid) continue;
    const looked = inspector.lookup(pid);
    if (looked.kind !== 'alive' || (group && looked.info.pgid === target.pgid)) continue;
    if (isProtectedPid(pid, inspector) || !mayTouch(looked.info, target)) continue;
    // The leader itself (re-verified), or a process outside the group (setsid,
    // re-parented): signal only after re-reading its marker.
    const verified =
      pid === target.pid
        ? verifyIdentity(target, inspector).kind === 'ours'
        : target.instance !== '' && inspector.environ(pid, MARKER_ENV) === target.instance;
    if (verified) trySend(kill, pid, signal);
  }
}

/** True while any process is in the group (signal 0 delivers nothing; ESRCH means empty). */
function groupExists(pgid: number, inspector: ProcessInspector, kill: KillFn): boolean {
  if (isProtectedGroup(pgid, inspector)) return false;
  try {
    kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Whether the verified leader has exited: its PID is free, or holds a zombie
 * (an init that reaps slowly: some container and VM inits take seconds), or
 * another process now. Cheap: `kill(pid, 0)`, and one stat read while it exists.
 */
function leaderGone(target: StopTarget, inspector: ProcessInspector): boolean {
  if (!inspector.exists(target.pid)) return true;
  const now = inspector.lookup(target.pid);
  if (now.kind === 'gone') return true;
  if (now.kind === 'denied') return false;
  return isDeadState(now.info.state) || now.info.startTime !== target.startTime;
}

/**
 * True if the group has no live member: a group whose leader exited may hold
 * zombies only (an init that reaps slowly). The look must be fresh: a member
 * alive at a read may have forked before it exited. A shared table (many
 * stops at once) serves when it was read after the signal and lists no
 * member, or once read again after every member it listed was seen gone;
 * each such read serves every stop that looks meanwhile (`down` of 20: one
 * /proc scan where each stop made its own). Without a table, a scan of its own.
 */
function groupEmpty(
  pgid: number,
  inspector: ProcessInspector,
  table: ProcessTable | undefined,
  signalled: number,
): boolean {
  if (table === undefined) return groupMembers(pgid, inspector).length === 0;
  const listed = groupMembers(pgid, inspector, table, signalled);
  if (listed.length === 0) return true;
  if (listed.some((m) => stillRuns(m, inspector))) return false;
  return groupMembers(pgid, inspector, table, performance.now()).length === 0;
}

/**
 * Waits until nothing of the instance is left, or `ms` passes. Polls cheaply
 * (the leader's identity and whether its group still has members) and runs
 * the full census (a /proc scan for marked processes that left the group)
 * only when the cheap check says empty, every 100 ms, and at the end. A
 * shared table counts only as read after the signal.
 */
async function waitEmpty(
  target: StopTarget,
  inspector: ProcessInspector,
  kill: KillFn,
  ms: number,
  proven: boolean,
  hurry?: AbortSignal,
  table?: ProcessTable,
): Promise<number[]> {
  const deadline = Date.now() + ms;
  const started = Date.now();
  const signalled = performance.now();
  let pause = 1;
  let lastCensus = Date.now();
  for (let look = 0; ; look++) {
    // Among concurrent stops (a shared table: `down`), the first look comes after a pause
    // too: the other stops send their signals meanwhile (a look at a leader that exited at
    // once cost a /proc scan, between their signals). A stop alone looks at once.
    if (look > 0 || (table !== undefined && ms > 0 && hurry?.aborted !== true))
      await delay(Math.min(pause, Math.max(1, deadline - Date.now())));
    // A prompt service is gone within a few ms of the signal: look every 2 ms for the first
    // 50 ms (a kill(pid, 0) each), then back off to 25 ms. Doubling from the start saw an
    // exit at 5 ms only at 7 or 15 ms.
    pause = Date.now() - started < 50 ? 2 : Math.min(pause * 2, 25);
    // The leader was verified when the stop began: while its PID exists it is the same
    // process (cheap to ask). A group that still "exists" may hold only zombies.
    const quiet =
      leaderGone(target, inspector) &&
      (target.pgid !== target.pid || // not a group we would signal: only its processes count
        !groupExists(target.pgid, inspector, kill) ||
        isProtectedGroup(target.pgid, inspector) ||
        groupEmpty(target.pgid, inspector, table, signalled));
    const over = Date.now() >= deadline || hurry?.aborted === true;
    if (quiet || over || Date.now() - lastCensus >= 100) {
      lastCensus = Date.now();
      const { pids } = census(target, inspector, proven, table, signalled);
      if (pids.length === 0 || over) return pids;
    }
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
  const kill: KillFn = options.kill ?? ((pid, sig) => inspector.kill(pid, sig));
  const started = Date.now();
  let refused: Untouched[] = [];
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
    refused,
    ...(reason === undefined ? {} : { reason }),
  });
  const verdict = verifyIdentity(target, inspector);
  if (verdict.kind === 'unverifiable') {
    const child = ownChild(target.pid);
    if (child === undefined) return report('unverifiable', false, [], verdict.reason);
    const forced = await stopOwnChild(child, options);
    return report(
      child.exitCode === null && child.signalCode === null ? 'survivors' : 'stopped',
      forced,
      [],
    );
  }
  let since: number | undefined;
  if (options.wave !== undefined) {
    options.wave.arrive();
    since = await options.wave.passed();
  }
  const { table } = options;
  const first = census(target, inspector, false, table, since);
  refused = first.refused;
  if (first.pids.length === 0) return report(refused.length > 0 ? 'refused' : 'gone', false, []);
  const signal = options.killSignal ?? DEFAULTS.stopSignal;
  let sent = first;
  const sender: Sender = { target, signal, inspector, kill };
  if (options.wave === undefined) send(sender, sent);
  else
    await options.wave.signal({
      verify: () => {
        sent = stillLeads(target, inspector, first);
      },
      send: () => sendGroup(sender, sent),
      after: () => sendSingles(sender, sent),
    });
  faultPoint('after-stop-signal');
  const proven = sent.group;
  let left = await waitEmpty(
    target,
    inspector,
    kill,
    options.timeout ?? DEFAULTS.stopTimeout,
    proven,
    options.hurry,
    table,
  );
  if (left.length === 0) return report('stopped', false, []);
  send({ ...sender, signal: 'SIGKILL' }, census(target, inspector, proven, table));
  left = await waitEmpty(target, inspector, kill, KILL_GRACE, proven, undefined, table);
  return report(left.length === 0 ? 'stopped' : 'survivors', true, left);
}

/**
 * Sends `signal` once to what is provably the instance (its verified group,
 * or its single verified processes), synchronously and without waiting: for
 * an exit handler, which cannot wait. Returns how many processes were found.
 */
export function signalInstance(
  target: StopTarget,
  signal: NodeJS.Signals,
  inspector: ProcessInspector,
): number {
  const child = ownChild(target.pid);
  if (child !== undefined && !inspector.canVerify) {
    child.kill(signal); // Windows: TerminateProcess; the tree goes with taskkill only, which needs time
    return 1;
  }
  const counted = census(target, inspector, false);
  if (counted.pids.length > 0)
    send({ target, signal, inspector, kill: (pid, sig) => inspector.kill(pid, sig) }, counted);
  return counted.pids.length;
}

/** Whether `child` has exited, within `ms`. */
function exitedWithin(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Stops a service this launcher spawned and has not reaped, where identities
 * cannot be verified (Windows): `taskkill /T /F` on its tree (Windows has no
 * polite signal a console program must honour), elsewhere the stop signal to
 * its group, then SIGKILL after the timeout. Returns whether it was forced.
 */
async function stopOwnChild(child: ChildProcess, options: StopOptions): Promise<boolean> {
  const pid = child.pid as number;
  if (process.platform === 'win32') {
    spawnSync('taskkill', ['/pid', String(pid), '/T', '/F'], {
      windowsHide: true,
      stdio: 'ignore',
    });
    await exitedWithin(child, KILL_GRACE);
    return true;
  }
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig); // unreaped: its PID, and so its group, are still ours
    } catch {
      // already gone
    }
  };
  kill(options.killSignal ?? DEFAULTS.stopSignal);
  if (await exitedWithin(child, options.timeout ?? DEFAULTS.stopTimeout)) return false;
  kill('SIGKILL');
  await exitedWithin(child, KILL_GRACE);
  return true;
}
