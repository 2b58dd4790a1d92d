import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { ResolvedService } from '../config/types.js';
import type { ProcessInspector } from '../os/inspector.js';
import { effectiveUid, userName } from '../os/users.js';
import { MARKER_ENV, parseMarker } from '../state/marker.js';
import type { PortUse } from './scan.js';

/**
 * Who holds a service's port, from the service's point of view.
 * - `earlier-instance`: an earlier instance of the same service (its marker, or
 *   the same command line and cwd); replaced automatically.
 * - `stack-service`: another service of this stack.
 * - `systemd`: a process of a systemd `.service` unit; never stopped by launchguard.
 * - `other-user`: a process of another user than the launcher's; never
 *   stopped, whatever its command line or environment says.
 * - `foreign`: any other process; stopped only with `--force`.
 * - `unknown`: a process launchguard may not inspect (another user's).
 */
export type HolderKind =
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
}

/** What classification compares against. */
export interface ClassifyContext {
  readonly stack: string;
  readonly service: ResolvedService;
  readonly inspector: ProcessInspector;
  /** Reads /proc/PID/cgroup (a seam for tests). */
  readonly cgroup?: (pid: number) => string | null;
}

/**
 * The systemd unit a process runs in, from the text of /proc/PID/cgroup: the
 * deepest `.service` component, unless a `.scope` (a login session, a
 * terminal) sits below it. `user@1000.service` (the user's manager) does not
 * count by itself.
 */
export function systemdUnit(cgroupText: string): { unit: string; user: boolean } | null {
  const line =
    cgroupText.split('\n').find((l) => l.startsWith('0::')) ??
    cgroupText.split('\n').find((l) => l.includes(':name=systemd:'));
  if (line === undefined) return null;
  const parts = line
    .slice(line.indexOf(':/') + 1)
    .split('/')
    .filter(Boolean);
  let unit: string | null = null;
  let below: string[] = [];
  parts.forEach((p, i) => {
    if (p.endsWith('.service') && !/^user@\d+\.service$/.test(p)) {
      unit = p;
      below = parts.slice(i + 1);
    }
  });
  if (unit === null || below.some((p) => p.endsWith('.scope'))) return null;
  return { unit, user: parts.some((p) => /^user@\d+\.service$/.test(p)) };
}

function readCgroup(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return null;
  }
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
  const cgroup = (ctx.cgroup ?? readCgroup)(use.pid);
  const unit = cgroup === null ? null : systemdUnit(cgroup);
  // A marker or a command line can be copied by anyone: another user's process is
  // never taken for one of ours (root sees every process's environment).
  const me = effectiveUid();
  if (me !== null && uid !== me) {
    if (unit !== null) return { ...holder, kind: 'systemd', unit: unit.unit, userUnit: unit.user };
    return { ...holder, kind: 'other-user' };
  }
  const marker = inspector.environ(use.pid, MARKER_ENV);
  const parts = marker === null ? null : parseMarker(marker);
  if (marker !== null && parts !== null && parts.stack === ctx.stack) {
    if (parts.service !== ctx.service.name)
      return { ...holder, kind: 'stack-service', service: parts.service, instance: marker };
    return { ...holder, kind: 'earlier-instance', instance: marker };
  }
  if (unit !== null) return { ...holder, kind: 'systemd', unit: unit.unit, userUnit: unit.user };
  if (sameCommand(argv, inspector.cwd(use.pid), ctx.service))
    return { ...holder, kind: 'earlier-instance' };
  return { ...holder, kind: 'foreign' };
}
