import type { ResolvedService } from '../config/types.js';
import { delay } from '../delay.js';
import { LaunchError } from '../errors.js';
import { isProtectedPid } from '../os/identity.js';
import type { ProcessInspector } from '../os/inspector.js';
import { isDeadState } from '../os/proc.js';
import { effectiveUid } from '../os/users.js';
import { systemctl } from '../process/managed.js';
import { type StopReport, stopInstance, stopOptionsFor } from '../process/stop.js';
import { classifyHolder, type PortHolder } from './classify.js';
import type { PortScanner, PortUse } from './scan.js';

/** Options of {@link clearPort}. */
export interface ClearPortOptions {
  readonly stack: string;
  readonly inspector: ProcessInspector;
  readonly scanner: PortScanner;
  /** Also stop a foreign holder (`--force`). */
  readonly force: boolean;
}

/** What {@link clearPort} did. */
export interface ClearPortReport {
  /** Holders that were stopped, with how. */
  readonly stopped: readonly { holder: PortHolder; report: StopReport }[];
}

/** One line about a holder, for messages: `pid 123 (python3 -m http.server, user ada) on 0.0.0.0`. */
export function describeHolder(h: PortHolder): string {
  if (h.pid === null) return `a process of ${h.user} on ${h.address}`;
  const other = h.otherStack;
  const whose =
    other === undefined
      ? ''
      : `; service ${other.service} of launchguard stack ${other.stack}${other.cwd === null ? '' : ` in ${other.cwd}`}`;
  return `pid ${h.pid} (${h.command}, user ${h.user}${whose}) on ${h.address}`;
}

/** What stops a foreign holder: the process, or (another stack's service) that stack's `down`. */
function stopHint(h: PortHolder): string {
  const other = h.otherStack;
  if (other === undefined) return 'stop that process';
  const where = other.cwd === null ? `in the folder of stack ${other.stack}` : `in ${other.cwd}`;
  return `stop it with 'launchguard down ${other.service}' ${where}`;
}

/** Why `--force` may not stop this holder, or null if it may. */
export function forceRefusal(h: PortHolder, inspector: ProcessInspector): string | null {
  if (h.pid === null) return 'launchguard cannot see which process it is';
  if (h.pid === 1) return 'it is PID 1 (init)';
  if (h.pid === process.pid) return 'it is this launchguard';
  if (isProtectedPid(h.pid, inspector))
    return 'it is an ancestor of this launchguard (its shell, terminal or CI agent)';
  const me = effectiveUid();
  const looked = inspector.lookup(h.pid);
  const uid = looked.kind === 'alive' ? looked.info.uid : null;
  if (me !== null && uid !== me)
    return `it belongs to ${h.user}, and launchguard never stops another user's process`;
  if (h.otherStack !== undefined)
    return `it is service ${h.otherStack.service} of launchguard stack ${h.otherStack.stack}, and --force does not cross stacks`;
  return null;
}

function refuse(
  svc: ResolvedService,
  h: PortHolder,
  force: boolean,
  inspector: ProcessInspector,
): LaunchError {
  const port = h.port;
  const service = svc.name;
  switch (h.kind) {
    case 'systemd': {
      const ctl = systemctl({ unit: h.unit ?? '', user: h.userUnit === true });
      return new LaunchError(
        'E_PORT_IN_USE',
        `${service}: port ${port} is held by the systemd unit ${h.unit} (${describeHolder(h)})`,
        {
          service,
          hint: `stop it with '${ctl}' or give ${service} another port; launchguard never stops a systemd-managed process`,
        },
      );
    }
    case 'stack-service':
      return new LaunchError(
        'E_PORT_IN_USE',
        `${service}: port ${port} is held by ${h.service}, another service of this stack (pid ${h.pid})`,
        {
          service,
          hint: `give ${service} and ${h.service} different ports in the config`,
        },
      );
    case 'other-user':
      return new LaunchError(
        'E_PORT_IN_USE',
        `${service}: port ${port} is in use by ${describeHolder(h)}, a process of another user`,
        {
          service,
          hint: `launchguard never stops another user's process, not even with --force; ask ${h.user} to stop it, or give ${service} another port or port: 'auto'`,
        },
      );
    case 'unknown':
      return new LaunchError(
        'E_PORT_IN_USE',
        `${service}: port ${port} is in use by ${describeHolder(h)}, which launchguard may not inspect`,
        {
          service,
          hint: `find it with 'sudo ss -ltnp sport = :${port}' and stop it, or give ${service} another port or port: 'auto'`,
        },
      );
    default: {
      const why = force ? forceRefusal(h, inspector) : null;
      return new LaunchError(
        'E_PORT_IN_USE',
        `${service}: port ${port} is in use by ${describeHolder(h)}`,
        {
          service,
          hint:
            why === null
              ? `${stopHint(h)}, give ${service} another port or port: 'auto', or run with --force to stop it`
              : `--force does not stop it: ${why}; ${h.otherStack === undefined ? 'stop it yourself' : stopHint(h)}, or give ${service} another port`,
        },
      );
    }
  }
}

async function waitFree(port: number, scanner: PortScanner, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
    if ((await scanner(port)).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await delay(pause);
  }
}

/**
 * Stops one holder of a service's port (identity verified, as any stop): a
 * marked process with its group (the instance's), an unmarked one alone
 * unless it leads its group. Null if it is gone already or may not be
 * stopped (see {@link forceRefusal}).
 */
export async function stopHolder(
  svc: ResolvedService,
  holder: PortHolder,
  inspector: ProcessInspector,
): Promise<StopReport | null> {
  const pid = holder.pid;
  if (pid === null || forceRefusal(holder, inspector) !== null) return null;
  const looked = inspector.lookup(pid);
  if (looked.kind !== 'alive') return null;
  return stopInstance(
    {
      service: svc.name,
      pid,
      // A marked process's group is the instance's; an unmarked one's only if it leads it.
      pgid: holder.instance !== undefined ? looked.info.pgid : pid,
      instance: holder.instance ?? '',
      startTime: looked.info.startTime,
      bootId: inspector.bootId(),
      pidNamespace: inspector.pidNamespace(),
    },
    stopOptionsFor(svc, inspector),
  );
}

/** True if `pid` is gone or a zombie (a zombie holds no socket: the listing is stale). */
function hasEnded(pid: number, inspector: ProcessInspector): boolean {
  const looked = inspector.lookup(pid);
  return looked.kind === 'gone' || (looked.kind === 'alive' && isDeadState(looked.info.state));
}

/**
 * The holders of a service's port, classified; throws E_PORT_IN_USE for the
 * first one the start may not stop (anything but an earlier instance of the
 * service, or with `force` a foreign process the user may signal).
 */
function stoppableHolders(
  svc: ResolvedService,
  uses: readonly PortUse[],
  options: ClearPortOptions,
): PortHolder[] {
  const { inspector } = options;
  const holders = uses.map((use) =>
    classifyHolder(use, { stack: options.stack, service: svc, inspector }),
  );
  for (const h of holders) {
    const stoppable =
      h.kind === 'earlier-instance' ||
      (h.kind === 'foreign' && options.force && forceRefusal(h, inspector) === null);
    // A holder that ended while it was looked at (an instance another launcher just
    // stopped) reads as foreign, its environment gone: it holds nothing any more.
    const ended = h.pid !== null && hasEnded(h.pid, inspector);
    if (!stoppable && !ended) throw refuse(svc, h, options.force, inspector);
  }
  return holders;
}

/**
 * The whole stack's pre-flight, before the first spawn: throws E_PORT_IN_USE
 * if a holder of `port` is one the start of `svc` could not stop, so a
 * foreign process on the last service's port fails the `up` before anything
 * starts and before any earlier instance is stopped. Stops nothing.
 */
export async function assertPortClearable(
  svc: ResolvedService,
  port: number,
  options: ClearPortOptions,
): Promise<void> {
  const uses = await options.scanner(port);
  // A holder that is just exiting (no process, a zombie, no command line left: an
  // instance another launcher is stopping) is left to the start's own check, under
  // the service's lock.
  const settled = uses.filter((u) => {
    if (u.pid === null) return false;
    const looked = options.inspector.lookup(u.pid);
    return (
      looked.kind !== 'gone' &&
      !(looked.kind === 'alive' && isDeadState(looked.info.state)) &&
      options.inspector.cmdline(u.pid) !== null
    );
  });
  stoppableHolders(svc, settled, options);
}

/**
 * Frees a fixed port for a service, one step of the pre-flight (see
 * `preparePort`): finds who listens on `port` (IPv4 and IPv6, every address),
 * stops earlier instances of the service (and, with `force`, a foreign holder
 * the user may signal), and throws E_PORT_IN_USE for anything else, naming
 * the holder.
 */
export async function clearPort(
  svc: ResolvedService,
  port: number,
  options: ClearPortOptions,
): Promise<ClearPortReport> {
  const { inspector, scanner } = options;
  let uses = await scanner(port);
  // A socket whose owner is just exiting shows up for an instant without a
  // process, or with no command line left: look again before calling it someone else's.
  const exiting = (u: PortUse) => u.pid === null || inspector.cmdline(u.pid) === null;
  for (let i = 0; i < 10 && uses.some(exiting); i++) {
    await delay(20);
    uses = await scanner(port);
  }
  if (uses.length === 0) return { stopped: [] };
  let holders: PortHolder[];
  try {
    holders = stoppableHolders(svc, uses, options);
  } catch {
    // A process that started a moment ago may be missing from a process-table snapshot
    // (ps: its environment, so its marker): look once more before calling it foreign.
    await delay(50);
    uses = await scanner(port);
    if (uses.length === 0) return { stopped: [] };
    holders = stoppableHolders(svc, uses, options);
  }
  const stopped: { holder: PortHolder; report: StopReport }[] = [];
  const seen = new Set<number>();
  for (const holder of holders) {
    if (seen.has(holder.pid as number)) continue;
    seen.add(holder.pid as number);
    const report = await stopHolder(svc, holder, inspector);
    if (report !== null) stopped.push({ holder, report });
  }
  if (!(await waitFree(port, scanner, 2_000))) {
    const left = await scanner(port);
    throw new LaunchError(
      'E_PORT_IN_USE',
      `${svc.name}: port ${port} is still in use after stopping its holder (${left.map((u) => `pid ${u.pid ?? '?'}`).join(', ')})`,
      {
        service: svc.name,
        hint: `check with 'ss -ltnp sport = :${port}' what holds it`,
      },
    );
  }
  return { stopped };
}
