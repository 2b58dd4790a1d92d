import { stateError } from '../errors.js';
import { faultPoint } from '../fault.js';
import type { ProcessIdentity } from '../os/identity.js';
import { readFileSafe, unlinkQuiet, writeFileAtomic } from './files.js';
import { parseMarker } from './marker.js';
import { servicePaths } from './paths.js';
import { formatPid } from './pidfile.js';

/** What launchguard keeps about a running service, beside its PID file. */
export interface ServiceRecord extends ProcessIdentity {
  readonly version: 1;
  readonly service: string;
  /** The stack id (`<name>-<hash of the config path>`). */
  readonly stack: string;
  /** The process group the service leads. */
  readonly pgid: number;
  readonly command: readonly string[];
  readonly cwd: string;
  /**
   * The ports its environment was given at start (`<NAME>_PORT` of every
   * service with a port, `PORT` its own), as `name=port` pairs joined by
   * commas: read them with {@link portsOf} and {@link portOf}. Not an object:
   * every record of a stack holds the ports of the whole stack, and `down`
   * and `up -d` read every record; at 500 services JSON.parse took 80 µs for a
   * record with an object of 500 keys, 3 µs with this string.
   */
  readonly ports: string;
  readonly configHash: string;
  /** The marker every process of this instance carries as LAUNCHGUARD_INSTANCE. */
  readonly instance: string;
  /** ISO time of the start. */
  readonly startedAt: string;
  /** PID of the launcher that started it. */
  readonly launcherPid: number;
  readonly logFile: string;
  /** Size of the log file when this instance started: its output begins here. */
  readonly logOffset?: number;
  /** ISO time the instance passed its readiness check (absent while it starts). */
  readonly readyAt?: string;
  /** Restarts by the restart policy before this instance (foreground `up`). */
  readonly restarts?: number;
  /**
   * Set by `up -d` and `restart` (for services they start or keep): the
   * service stays until `down`, whoever else used it. Without it, the last
   * live lease holder to finish stops it (see `lease.ts`).
   */
  readonly detached?: boolean;
  /** The verdict of its liveness check (`health`), once there is one. */
  readonly health?: 'healthy' | 'unhealthy';
}

/**
 * Writes the record, then the PID file, each atomically. The state folder must
 * exist. Throws E_STATE (path and errno) if the disk refuses.
 */
export function writeRecord(pidDir: string, record: ServiceRecord): void {
  const paths = servicePaths(pidDir, record.service);
  try {
    writeFileAtomic(paths.record, `${JSON.stringify(record, null, 2)}\n`, () =>
      faultPoint('before-record-rename'),
    );
    writeFileAtomic(paths.pid, formatPid(record.pid));
  } catch (error) {
    throw stateError(pidDir, 'cannot write the record', error, record.service);
  }
}

/** Rewrites the record alone, atomically: for updates (`readyAt`) of a recorded instance. */
export function updateRecord(pidDir: string, record: ServiceRecord): void {
  try {
    writeFileAtomic(
      servicePaths(pidDir, record.service).record,
      `${JSON.stringify(record, null, 2)}\n`,
    );
  } catch (error) {
    throw stateError(pidDir, 'cannot write the record', error, record.service);
  }
}

const RECORD_FIELDS: Record<string, 'string' | 'number' | 'object'> = {
  service: 'string',
  stack: 'string',
  pid: 'number',
  pgid: 'number',
  startTime: 'string',
  instance: 'string',
  cwd: 'string',
  command: 'object',
  ports: 'string',
  configHash: 'string',
  startedAt: 'string',
  launcherPid: 'number',
  logFile: 'string',
};

/** The `ports` of a record: `name=port` pairs joined by commas, in the order given. */
export function encodePorts(ports: Readonly<Record<string, number>>): string {
  return Object.entries(ports)
    .map(([name, port]) => `${name}=${port}`)
    .join(',');
}

function isPort(port: unknown): port is number {
  return Number.isInteger(port) && (port as number) > 0 && (port as number) < 65536;
}

/**
 * Every port a record's service was given, by service name. A pair that is
 * not `name=port` (a record written by hand) is left out.
 */
export function portsOf(record: Pick<ServiceRecord, 'ports'>): Record<string, number> {
  const ports: Record<string, number> = {};
  if (record.ports === '') return ports;
  for (const pair of record.ports.split(',')) {
    const at = pair.indexOf('=');
    const port = Number(pair.slice(at + 1));
    if (at > 0 && isPort(port)) ports[pair.slice(0, at)] = port;
  }
  return ports;
}

/** The port a record gave `service` (its own, usually), without reading the others. */
export function portOf(record: Pick<ServiceRecord, 'ports'>, service: string): number | undefined {
  const list = `,${record.ports}`;
  const key = `,${service}=`;
  const at = list.indexOf(key);
  if (at < 0) return undefined;
  const end = list.indexOf(',', at + key.length);
  const port = Number(list.slice(at + key.length, end < 0 ? undefined : end));
  return isPort(port) ? port : undefined;
}

/** Parses and checks a record file's text; a string is the reason it is corrupt. */
function parseRecord(text: string, service: string, pidMax: number): ServiceRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'it is not valid JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'it is not a record object';
  const r = value as Record<string, unknown>;
  if (r.version !== 1) return `unknown record version ${JSON.stringify(r.version)}`;
  // Written by an earlier launchguard (ports as an object), whose services may still run.
  if (typeof r.ports === 'object' && r.ports !== null && !Array.isArray(r.ports))
    r.ports = encodePorts(
      Object.fromEntries(Object.entries(r.ports).filter(([, port]) => isPort(port))) as Record<
        string,
        number
      >,
    );
  for (const [field, type] of Object.entries(RECORD_FIELDS)) {
    if (typeof r[field] !== type || r[field] === null)
      return `field '${field}' is missing or not a ${type}`;
  }
  if (r.service !== service) return `it belongs to service '${String(r.service)}'`;
  const pid = r.pid as number;
  const pgid = r.pgid as number;
  if (!Number.isInteger(pid) || pid <= 1 || pid > pidMax)
    return `PID ${pid} is not a valid service PID`;
  if (!Number.isInteger(pgid) || pgid <= 1 || pgid > pidMax)
    return `process group ${pgid} is not valid`;
  const marker = parseMarker(r.instance as string);
  if (marker === null || marker.service !== service || marker.stack !== r.stack)
    return `its instance marker '${String(r.instance).slice(0, 80)}' is not one of ${service}'s`;
  return value as ServiceRecord;
}

/** Reads and parses the record file alone; null if there is none. */
export function readRecord(
  pidDir: string,
  service: string,
  pidMax: number,
): ServiceRecord | null | { corrupt: string } {
  const read = readFileSafe(servicePaths(pidDir, service).record);
  if (read.kind === 'missing') return null;
  if (read.kind === 'invalid') return { corrupt: read.reason };
  const parsed = parseRecord(read.text, service, pidMax);
  if (typeof parsed === 'string') return { corrupt: parsed };
  // The log is always the one beside the record: a record never sends output (or `logs`) elsewhere.
  const log = servicePaths(pidDir, service).log;
  if (parsed.logFile !== log)
    return { corrupt: `it names ${parsed.logFile} as its log, not ${log}` };
  return parsed;
}

/**
 * Removes a service's PID file and record, but only if the record on disk is
 * still `expected` (same instance): a record written meanwhile by another
 * launcher is left alone. Callers hold the service lock. Returns whether it removed.
 */
export function removeRecord(
  pidDir: string,
  expected: ServiceRecord | null,
  service: string,
): boolean {
  const paths = servicePaths(pidDir, service);
  if (expected !== null && expected.instance !== '') {
    // Still ours if the file names our instance: its nonce is random, so no other
    // instance's record holds it. No parse: a record holds the ports of every service
    // of the stack, and `down` of 500 services parsed 2.5 MB twice (60 ms).
    const read = readFileSafe(paths.record);
    if (read.kind !== 'ok' || !read.text.includes(JSON.stringify(expected.instance))) return false;
  } else {
    const current = readRecord(pidDir, service, Number.MAX_SAFE_INTEGER);
    if (expected === null) {
      if (current !== null && !('corrupt' in current)) return false;
    } else if (current === null || 'corrupt' in current || current.instance !== expected.instance) {
      return false;
    }
  }
  unlinkQuiet(paths.pid);
  unlinkQuiet(paths.record);
  return true;
}
