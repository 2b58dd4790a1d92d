import type { ResolvedService } from '../config/types.js';
import { delay } from '../delay.js';
import { LaunchError } from '../errors.js';
import { describeExit, type ExitInfo } from '../exit.js';
import {
  isProtectedPid,
  type ProcessIdentity,
  startedNoEarlier,
  verifyIdentity,
} from '../os/identity.js';
import type { ProcessInspector } from '../os/inspector.js';
import type { ProcInfo } from '../os/proc.js';
import { effectiveUid } from '../os/users.js';
import { readFileSafe } from '../state/files.js';

/**
 * Daemons: commands that fork a server into the background and exit
 * (`redis-server --daemonize yes`, nginx, `pg_ctl start`). With `pidFile`,
 * the daemon becomes the service ({@link adoptDaemon}); without it, a daemon
 * that got away is named, never left behind silently ({@link escapedDaemon}).
 */

/** How often the PID file is read, and a daemon's life checked, ms. */
const POLL_MS = 50;
const WATCH_MS = 500;

/** The first line of a PID file as a PID, or null (missing, empty, not a number yet). */
function pidIn(file: string): number | null {
  const read = readFileSafe(file, { maxBytes: 64 * 1024 });
  if (read.kind !== 'ok') return null;
  const first = /^\s*(\d+)\s*$/m.exec(read.text.split('\n')[0] ?? '');
  return first === null ? null : Number(first[1]);
}

/** Why `info` cannot be the daemon the command started at `since`, or null if it can. */
function notTheDaemon(info: ProcInfo, since: string, inspector: ProcessInspector): string | null {
  if (isProtectedPid(info.pid, inspector))
    return 'it is launchguard itself or one of its ancestors';
  const me = effectiveUid();
  if (me !== null && info.uid !== null && info.uid !== me) return `it belongs to uid ${info.uid}`;
  if (!startedNoEarlier(info.startTime, since)) return 'it started before the command';
  return null;
}

/**
 * Waits for a daemonizing command (`spawned` at `since`, its start time) to
 * exit 0, then for its daemon's PID in `svc.pidFile`, and verifies it: alive,
 * this user's, started after the command, not protected. Throws E_EXITED
 * (the command failed) or E_NOT_READY (no valid PID by `deadline`).
 */
export async function adoptDaemon(
  svc: ResolvedService,
  exit: Promise<ExitInfo>,
  since: string,
  inspector: ProcessInspector,
  deadline: number,
  signal?: AbortSignal,
): Promise<ProcInfo> {
  const file = svc.pidFile as string;
  const ended = await Promise.race([
    exit,
    delay(Math.max(0, deadline - performance.now()), signal),
  ]);
  if (ended === undefined) throw noPid(svc, file, 'the command did not exit (does it daemonize?)');
  if (ended.code !== 0)
    throw new LaunchError('E_EXITED', `${svc.name}: the daemon's command ${describeExit(ended)}`, {
      service: svc.name,
      hint: `see its output: launchguard logs ${svc.name}`,
    });
  let last = `${file} holds no PID`;
  while (performance.now() < deadline && signal?.aborted !== true) {
    const pid = pidIn(file);
    const looked = pid === null ? null : inspector.lookup(pid);
    if (looked?.kind === 'alive' && looked.info.state !== 'Z') {
      const why = notTheDaemon(looked.info, since, inspector);
      if (why === null) return looked.info;
      last = `${file} names pid ${pid}, which is not the daemon: ${why}`;
    } else if (pid !== null) last = `${file} names pid ${pid}, which is not running`;
    await delay(POLL_MS, signal);
  }
  throw noPid(svc, file, last);
}

function noPid(svc: ResolvedService, file: string, why: string): LaunchError {
  return new LaunchError('E_NOT_READY', `${svc.name}: no daemon to follow: ${why}`, {
    service: svc.name,
    hint: `check that the command writes its daemon's PID to ${file} (services.${svc.name}.pidFile), or run it in the foreground`,
  });
}

/**
 * Settles once the process `info` names is gone (it is not our child: its
 * exit code is unknown), polling its identity. The timer does not keep the
 * launcher alive.
 */
export function daemonGone(info: ProcInfo, inspector: ProcessInspector): Promise<ExitInfo> {
  return instanceGone(
    {
      pid: info.pid,
      startTime: info.startTime,
      bootId: inspector.bootId(),
      pidNamespace: inspector.pidNamespace(),
    },
    inspector,
  );
}

/**
 * Settles once the process `identity` names is gone (not our child: its exit
 * code is unknown), polling it; the timer does not keep the launcher alive.
 */
export function instanceGone(
  identity: ProcessIdentity,
  inspector: ProcessInspector,
): Promise<ExitInfo> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (verifyIdentity(identity, inspector).kind === 'ours') return;
      clearInterval(timer);
      resolve({ code: null, signal: null });
    }, WATCH_MS);
    timer.unref();
  });
}

/**
 * A process of this user that started after the command (`since`) and holds
 * the service's `port`, found after the command exited 0 before it was
 * ready: a daemon that got away. Null if there is none.
 */
function escapedDaemon(
  port: number | null,
  since: string,
  inspector: ProcessInspector,
): ProcInfo | null {
  if (port === null) return null;
  const listeners = inspector.listeners(port) ?? [];
  for (const pid of inspector.holders(listeners)) {
    const looked = inspector.lookup(pid);
    if (looked.kind === 'alive' && notTheDaemon(looked.info, since, inspector) === null)
      return looked.info;
  }
  return null;
}

/** How long a command that exited 0 early is given for its daemon to show on the port, ms. */
const ESCAPE_GRACE_MS = 1_000;

/**
 * {@link escapedDaemon}, looked for during a short grace (a daemon binds a
 * moment after its command exits). Null at once for a service without a port.
 */
export async function awaitEscapedDaemon(
  port: number | null,
  since: string,
  inspector: ProcessInspector,
): Promise<ProcInfo | null> {
  if (port === null) return null;
  const until = performance.now() + ESCAPE_GRACE_MS;
  for (;;) {
    const found = escapedDaemon(port, since, inspector);
    if (found !== null || performance.now() >= until) return found;
    await delay(POLL_MS);
  }
}
