import type { ProcessInspector } from '../os/inspector.js';
import type { ProcInfo } from '../os/proc.js';
import { isDeadState } from '../os/proc.js';
import type { SystemdUnit } from '../os/systemd.js';
import { MARKER_ENV, parseMarker } from '../state/marker.js';

/** A live process found carrying a launchguard marker. */
export interface MarkedProcess {
  readonly info: ProcInfo;
  readonly marker: string;
  readonly service: string;
}

/** What to look for. */
export interface SweepFilter {
  /** The stack id. */
  readonly stack: string;
  /** Only this service. */
  readonly service?: string;
  /** Only this exact instance. */
  readonly instance?: string;
}

/**
 * Finds every live process (zombies excluded) whose environment carries a
 * marker of this stack: leftovers of a SIGKILLed launcher, re-parented or
 * setsid'd grandchildren included. Only processes the user may read are seen.
 */
export function findMarked(filter: SweepFilter, inspector: ProcessInspector): MarkedProcess[] {
  const found: MarkedProcess[] = [];
  for (const pid of inspector.listPids()) {
    if (pid === process.pid) continue;
    const marker = inspector.environ(pid, MARKER_ENV);
    if (marker === null) continue;
    const parts = parseMarker(marker);
    if (parts === null || parts.stack !== filter.stack) continue;
    if (filter.service !== undefined && parts.service !== filter.service) continue;
    if (filter.instance !== undefined && marker !== filter.instance) continue;
    const looked = inspector.lookup(pid);
    if (looked.kind !== 'alive' || isDeadState(looked.info.state)) continue;
    found.push({ info: looked.info, marker, service: parts.service });
  }
  return found;
}

/** Live (non-zombie) members of a process group. */
export function groupMembers(pgid: number, inspector: ProcessInspector): ProcInfo[] {
  const members: ProcInfo[] = [];
  for (const pid of inspector.listPids()) {
    const looked = inspector.lookup(pid);
    if (looked.kind === 'alive' && looked.info.pgid === pgid && !isDeadState(looked.info.state)) {
      members.push(looked.info);
    }
  }
  return members;
}

/**
 * The live processes of a service carrying one of its markers: from a scan
 * the caller made earlier (`candidates`, each re-checked: still alive with
 * the same start time and marker), or from a fresh scan. Processes that run
 * under another systemd unit are not leftovers (see `foreignUnit`).
 */
export function leftoversOf(
  filter: SweepFilter & { readonly service: string },
  inspector: ProcessInspector,
  candidates?: readonly MarkedProcess[],
): MarkedProcess[] {
  // A marked process under another systemd unit is that unit's (an exported service): never a leftover.
  const free = (m: MarkedProcess) => foreignUnit(inspector, m.info.pid) === null;
  if (candidates === undefined) return findMarked(filter, inspector).filter(free);
  return candidates.filter(free).filter((m) => {
    if (m.service !== filter.service) return false;
    const now = inspector.lookup(m.info.pid);
    return (
      now.kind === 'alive' &&
      now.info.startTime === m.info.startTime &&
      inspector.environ(m.info.pid, MARKER_ENV) === m.marker
    );
  });
}

const ownUnits = new WeakMap<ProcessInspector, string | null>();

/** The systemd unit `pid` runs in, unless it is the one this launcher runs in. */
export function foreignUnit(inspector: ProcessInspector, pid: number): SystemdUnit | null {
  if (!ownUnits.has(inspector)) ownUnits.set(inspector, inspector.unit(process.pid)?.unit ?? null);
  const unit = inspector.unit(pid);
  return unit === null || unit.unit === ownUnits.get(inspector) ? null : unit;
}
