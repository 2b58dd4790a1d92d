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
export function findMarked(
  filter: SweepFilter,
  inspector: ProcessInspector,
  table?: ProcessTable,
  since?: number,
): MarkedProcess[] {
  const found: MarkedProcess[] = [];
  const rows =
    table === undefined
      ? scan(inspector, 'markers')
      : filter.instance === undefined
        ? table.rows(since)
        : table.marked(filter.instance, since);
  for (const { info, marker } of rows) {
    if (marker === null || info.pid === process.pid) continue;
    // The instance first: a string comparison per process, not a parse of its marker.
    if (filter.instance !== undefined && marker !== filter.instance) continue;
    const parts = parseMarker(marker);
    if (parts === null || parts.stack !== filter.stack) continue;
    if (filter.service !== undefined && parts.service !== filter.service) continue;
    found.push({ info, marker, service: parts.service });
  }
  return found;
}

/** Live (non-zombie) members of a process group (from `table`: as it was read after `since`). */
export function groupMembers(
  pgid: number,
  inspector: ProcessInspector,
  table?: ProcessTable,
  since?: number,
): ProcInfo[] {
  if (table !== undefined) return table.group(pgid, since).map((r) => r.info);
  return scan(inspector, 'stats')
    .filter((r) => r.info.pgid === pgid)
    .map((r) => r.info);
}

/** One live process of a scan, with its marker (null: none, or not read). */
type TableRow = { readonly info: ProcInfo; readonly marker: string | null };

/**
 * A scan of the process table shared by concurrent stops (one `down` of many
 * services): read at most once per `ttl` ms (longer while a read is slow,
 * see `every`). Each stop's census scans the whole table for its group and
 * its marker, so N stops made N² reads (200 services: a second of /proc
 * reads). What it finds only points at candidates: a process is signalled
 * only after its identity or marker is read again (`send` in stop.ts), and
 * one that exited since the read is dropped (`census`), so a table a few ms
 * old never makes a stop signal the wrong process or wait for a gone one;
 * where a process forked since matters, the caller asks for a read begun
 * after a moment (`since`).
 */
export interface ProcessTable {
  /**
   * The live processes, from a read at most `ttl` ms old that began at or
   * after `since` (`performance.now()` clock; read again if not).
   */
  rows(since?: number): readonly TableRow[];
  /** The rows of {@link rows} that carry `marker`. */
  marked(marker: string, since?: number): readonly TableRow[];
  /** The rows of {@link rows} in process group `pgid`. */
  group(pgid: number, since?: number): readonly TableRow[];
  /**
   * Whether something listens on `port`, from the listener tables read at
   * most once per `ttl` ms and begun at or after `since`; null where they
   * cannot be read or are incomplete.
   */
  listening(port: number, since?: number): boolean | null;
}

/**
 * A value read at most once per `ttl` ms, or per four times as long as the
 * last read took if that is longer (reads take at most a fifth of the CPU:
 * with 500 services running, a read of the process table takes 8-10 ms), and
 * read again if its read began before `since`.
 *
 * "Took" is the CPU time of the read, not its wall time: while hundreds of
 * services exit at once (`down` of 500), this process gets a sliver of the
 * cores, and a read of 10 ms of CPU took 70 ms on the clock; paced by that, the
 * next read (the one that sees the last exits) came 280 ms late.
 */
function every<T>(ttl: number, read: () => T): (since?: number) => T {
  let at = Number.NEGATIVE_INFINITY;
  let began = Number.NEGATIVE_INFINITY;
  let took = 0;
  let value: T;
  return (since = Number.NEGATIVE_INFINITY) => {
    if (performance.now() - at > Math.max(ttl, 4 * took) || began < since) {
      began = performance.now();
      const cpu = process.cpuUsage();
      value = read();
      at = performance.now();
      const used = process.cpuUsage(cpu);
      took = Math.min(at - began, (used.user + used.system) / 1000);
    }
    return value;
  };
}

/** A {@link ProcessTable} over `inspector`, fresh every `ttl` ms. */
export function processTable(inspector: ProcessInspector, ttl = 20): ProcessTable {
  // A process's marker is read once per process (pid and start time): a rescan reads
  // only each process's stat, the environment of new processes alone.
  const markers = new Map<number, { readonly startTime: string; readonly marker: string | null }>();
  const rows = every(ttl, () => {
    const out: TableRow[] = [];
    const seen = new Set<number>();
    for (const pid of inspector.listPids()) {
      const looked = inspector.lookup(pid);
      if (looked.kind !== 'alive' || isDeadState(looked.info.state)) continue;
      seen.add(pid);
      let known = markers.get(pid);
      if (known === undefined || known.startTime !== looked.info.startTime) {
        known = { startTime: looked.info.startTime, marker: inspector.environ(pid, MARKER_ENV) };
        markers.set(pid, known);
      }
      out.push({ info: looked.info, marker: known.marker });
    }
    for (const pid of markers.keys()) if (!seen.has(pid)) markers.delete(pid);
    return out;
  });
  const ports = every(ttl, () => {
    const all = inspector.completeListeners ? inspector.listeners() : null;
    return all === null ? null : new Set(all.map((l) => l.port));
  });
  // Each read indexed by marker and by group once, when first asked: `down` of 500 services
  // looked through the whole table once per stop and look (300,000 rows, 110 ms).
  const indexes = new WeakMap<readonly TableRow[], ReturnType<typeof indexRows>>();
  const indexed = (since?: number) => {
    const list = rows(since);
    let index = indexes.get(list);
    if (index === undefined) {
      index = indexRows(list);
      indexes.set(list, index);
    }
    return index;
  };
  return {
    rows,
    marked: (marker, since) => indexed(since).byMarker.get(marker) ?? [],
    group: (pgid, since) => indexed(since).byGroup.get(pgid) ?? [],
    listening: (port, since) => {
      const set = ports(since);
      return set === null ? null : set.has(port);
    },
  };
}

/** The rows of one read of the table, by marker and by process group. */
function indexRows(list: readonly TableRow[]): {
  byMarker: Map<string, TableRow[]>;
  byGroup: Map<number, TableRow[]>;
} {
  const byMarker = new Map<string, TableRow[]>();
  const byGroup = new Map<number, TableRow[]>();
  const add = <K>(map: Map<K, TableRow[]>, key: K, row: TableRow) => {
    const at = map.get(key);
    if (at === undefined) map.set(key, [row]);
    else at.push(row);
  };
  for (const row of list) {
    if (row.marker !== null) add(byMarker, row.marker, row);
    add(byGroup, row.info.pgid, row);
  }
  return { byMarker, byGroup };
}

/**
 * Live processes (zombies excluded). `markers`: only those carrying a marker,
 * each read marker first (one read per unmarked process); `stats`: all of
 * them, no marker read.
 */
function scan(inspector: ProcessInspector, mode: 'markers' | 'stats'): TableRow[] {
  const rows: TableRow[] = [];
  for (const pid of inspector.listPids()) {
    const marker = mode === 'stats' ? null : inspector.environ(pid, MARKER_ENV);
    if (mode === 'markers' && marker === null) continue;
    const looked = inspector.lookup(pid);
    if (looked.kind !== 'alive' || isDeadState(looked.info.state)) continue;
    rows.push({ info: looked.info, marker });
  }
  return rows;
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
  // The cgroup file (a unit lookup) is read last: only for this service's candidates (one per
  // candidate of every service made a down of N services read N² of them), and only for those
  // that still run (after a stop, most are gone or zombies).
  return candidatesOf(candidates, filter.service).filter((m) => {
    const now = inspector.lookup(m.info.pid);
    return (
      now.kind === 'alive' &&
      now.info.startTime === m.info.startTime &&
      !isDeadState(now.info.state) &&
      inspector.environ(m.info.pid, MARKER_ENV) === m.marker &&
      free(m)
    );
  });
}

const byService = new WeakMap<readonly MarkedProcess[], Map<string, MarkedProcess[]>>();

/**
 * The candidates of one service, from one scan's list (which is never changed
 * once made), indexed by service on the first ask: each stop of a `down` of N
 * services asks twice, and filtering the whole list each time was N² looks
 * (500 services: 45 ms).
 */
export function candidatesOf(
  candidates: readonly MarkedProcess[],
  service: string,
): readonly MarkedProcess[] {
  let index = byService.get(candidates);
  if (index === undefined) {
    index = new Map();
    for (const m of candidates) {
      const list = index.get(m.service);
      if (list === undefined) index.set(m.service, [m]);
      else list.push(m);
    }
    byService.set(candidates, index);
  }
  return index.get(service) ?? [];
}

const ownUnits = new WeakMap<ProcessInspector, string | null>();

/** The systemd unit `pid` runs in, unless it is the one this launcher runs in. */
export function foreignUnit(inspector: ProcessInspector, pid: number): SystemdUnit | null {
  if (!ownUnits.has(inspector)) ownUnits.set(inspector, inspector.unit(process.pid)?.unit ?? null);
  const unit = inspector.unit(pid);
  return unit === null || unit.unit === ownUnits.get(inspector) ? null : unit;
}
