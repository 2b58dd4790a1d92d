import { basename } from 'node:path';
import type { ResolvedService } from '../config/types.js';
import type { ProcessInspector } from '../os/inspector.js';
import { effectiveUid, userName } from '../os/users.js';
import { foreignUnit } from '../process/sweep.js';
import { MARKER_ENV, parseMarker, stackNameOf } from '../state/marker.js';
import type { PortUse } from './scan.js';

/**
 * Who holds a service's port, from the service's point of view.
 * - `earlier-instance`: an earlier instance of the same service (its marker, or
 *   the same command line and cwd); replaced automatically.
 * - `stack-service`: another service of this stack.
 * - `systemd`: a process of a systemd `.service` unit (this stack's exported unit
 *   too); never stopped by launchguard.
 * - `other-user`: a process of another user than the launcher's; never
 *   stopped, whatever its command line or environment says.
 * - `foreign`: any other process; stopped only with `--force`, unless it is
 *   a service of another launchguard stack (`otherStack`), which only that
 *   stack's `down` stops.
 * - `unknown`: a process launchguard may not inspect (another user's).
 */
type HolderKind =
  | 'earlier-instance'
  | 'stack-service'
  | 'systemd'
  | 'other-user'
  | 'foreign'
  | 'unknown';

/** A classified holder of a port. */
export interface PortHolder {
  readonly kind: HolderKind;
  readonly port: number;
  readonly address: string;
  readonly pid: number | null;
  readonly user: string;
  /** Its command line, or '?' if unreadable. */
  readonly command: string;
  /** For `stack-service`: which service. */
  readonly service?: string;
  /** For marked processes: their instance marker. */
  readonly instance?: string;
  /** For `systemd`: the unit (`foo.service`), and whether it is a user unit. */
  readonly unit?: string;
  readonly userUnit?: boolean;
  /**
   * For a `foreign` holder that is a service of another launchguard stack of
   * this user (by its marker): that stack's name, the service, and the
   * process's cwd (where `launchguard down` finds that stack's config).
   */
  readonly otherStack?: {
    readonly stack: string;
    readonly service: string;
    readonly cwd: string | null;
  };
}

/** What classification compares against. */
export interface ClassifyContext {
  readonly stack: string;
  readonly service: ResolvedService;
  readonly inspector: ProcessInspector;
}

/** True if a process's argv and cwd are the service's command (an unmarked earlier instance). */
export function sameCommand(
  argv: readonly string[] | null,
  cwd: string | null,
  svc: ResolvedService,
): boolean {
  if (argv === null || cwd !== svc.cwd) return false;
  const want = svc.shell ? ['sh', '-c', ...svc.argv] : svc.argv;
  if (argv.length !== want.length) return false;
  return argv.every((a, i) => (i === 0 ? basename(a) === basename(want[0] ?? '') : a === want[i]));
}

/** Classifies one holder of a service's port. */
export function classifyHolder(use: PortUse, ctx: ClassifyContext): PortHolder {
  const { inspector } = ctx;
  const base = { port: use.port, address: use.address, pid: use.pid };
  if (use.pid === null) return { ...base, kind: 'unknown', user: userName(use.uid), command: '?' };
  const looked = inspector.lookup(use.pid);
  const uid = looked.kind === 'alive' ? looked.info.uid : use.uid;
  const argv = inspector.cmdline(use.pid);
  const holder = { ...base, user: userName(uid), command: argv?.join(' ') ?? '?' };
  if (looked.kind === 'denied') return { ...holder, kind: 'unknown' };
  // A process under systemd is systemd's to stop, even one of this stack's (its exported unit).
  const unit = foreignUnit(inspector, use.pid);
  if (unit !== null) return { ...holder, kind: 'systemd', unit: unit.unit, userUnit: unit.user };
  // A marker or a command line can be copied by anyone: another user's process is
  // never taken for one of ours (root sees every process's environment).
  const me = effectiveUid();
  if (me !== null && uid !== me) return { ...holder, kind: 'other-user' };
  const marker = inspector.environ(use.pid, MARKER_ENV);
  const parts = marker === null ? null : parseMarker(marker);
  if (marker !== null && parts !== null && parts.stack === ctx.stack) {
    if (parts.service !== ctx.service.name)
      return { ...holder, kind: 'stack-service', service: parts.service, instance: marker };
    return { ...holder, kind: 'earlier-instance', instance: marker };
  }
  const cwd = inspector.cwd(use.pid);
  if (parts !== null) {
    // Another stack's service (another project, or another config in this folder): its
    // marker decides before any likeness of command lines, and `--force` does not cross
    // stacks; the user is told whose it is and which `down` stops it.
    const stack = stackNameOf(parts.stack);
    return { ...holder, kind: 'foreign', otherStack: { stack, service: parts.service, cwd } };
  }
  if (sameCommand(argv, cwd, ctx.service)) return { ...holder, kind: 'earlier-instance' };
  return { ...holder, kind: 'foreign' };
}
