import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import type { ProcessInspector } from '../os/inspector.js';
import { isDeadState } from '../os/proc.js';
import type { SystemdUnit } from '../os/systemd.js';
import { stackId } from '../state/marker.js';
import { candidatesOf, findMarked, foreignUnit, type MarkedProcess } from './sweep.js';

/**
 * Services of this stack that systemd runs: the units `launchguard export
 * systemd` writes (`<stack>-<service>.service`), or any unit whose process
 * carries the service's marker. Such a process *is* the running instance:
 * `up` keeps it, `status` shows it, and nothing of launchguard's signals it
 * (`systemctl stop` does). A unit that launchguard itself runs in (a
 * foreground `up` as a systemd service) is not "another" unit: its services
 * are launchguard's as usual.
 */

/** A service's instance under systemd. */
export interface ManagedInstance {
  readonly unit: SystemdUnit;
  readonly pid: number;
  readonly pgid: number;
  readonly startTime: string;
  /** Its instance marker, when it carries one. */
  readonly marker: string | null;
}

/** The unit name `export systemd` gives a service: `<stack>-<service>.service`. */
function unitName(config: ResolvedConfig, service: string): string {
  return `${config.name}-${service}.service`;
}

/**
 * The unit `pid` runs in, if it is not launchguard's own; or if it is the
 * service's exported unit even so: `launchguard wait` as that unit's
 * `ExecStartPost=` runs in the service's own unit, and must find it there.
 */
function unitOf(
  config: ResolvedConfig,
  service: string,
  inspector: ProcessInspector,
  pid: number,
): SystemdUnit | null {
  const unit = foreignUnit(inspector, pid);
  if (unit !== null) return unit;
  const own = inspector.unit(pid);
  return own?.unit === unitName(config, service) ? own : null;
}

/**
 * The instance of `svc` that systemd runs, if any: a process with the
 * service's marker in a unit, or the holder of its fixed port in the stack's
 * unit for it. `portFree`: the caller has just seen that nothing listens on
 * the port (the listener tables need not be read).
 */
export function managedInstance(
  config: ResolvedConfig,
  svc: ResolvedService,
  inspector: ProcessInspector,
  candidates?: readonly MarkedProcess[],
  portFree = false,
): ManagedInstance | null {
  const stack = stackId(config.name, config.file);
  const marked =
    candidates === undefined
      ? findMarked({ stack, service: svc.name }, inspector)
      : candidatesOf(candidates, svc.name);
  for (const m of marked) {
    // Candidates from an earlier scan may have exited since (`down` stopped them): a zombie
    // too (its parent has not reaped it yet), whose unit no longer matters.
    if (candidates !== undefined && !stillAlive(m, inspector)) continue;
    const unit = unitOf(config, svc.name, inspector, m.info.pid);
    if (unit !== null)
      return {
        unit,
        pid: m.info.pid,
        pgid: m.info.pgid,
        startTime: m.info.startTime,
        marker: m.marker,
      };
  }
  if (typeof svc.port !== 'number' || portFree) return null;
  const listeners = inspector.listeners(svc.port) ?? [];
  for (const pid of listeners.length === 0 ? [] : inspector.holders(listeners)) {
    const unit = unitOf(config, svc.name, inspector, pid);
    const looked = inspector.lookup(pid);
    if (unit?.unit === unitName(config, svc.name) && looked.kind === 'alive')
      return { unit, pid, pgid: looked.info.pgid, startTime: looked.info.startTime, marker: null };
  }
  return null;
}

/** True while the candidate's process runs: the same start time, not a zombie. */
function stillAlive(m: MarkedProcess, inspector: ProcessInspector): boolean {
  const now = inspector.lookup(m.info.pid);
  return (
    now.kind === 'alive' && now.info.startTime === m.info.startTime && !isDeadState(now.info.state)
  );
}

/**
 * How to act on a unit: `systemctl [--user] <verb> <unit>`, with `sudo` for a
 * system unit unless the user is root already. The one place that says it.
 */
export function systemctl(unit: SystemdUnit, verb: 'stop' | 'restart' = 'stop'): string {
  const ctl = unit.user
    ? 'systemctl --user'
    : process.geteuid?.() === 0
      ? 'systemctl'
      : 'sudo systemctl';
  return `${ctl} ${verb} ${unit.unit}`;
}
