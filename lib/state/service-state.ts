import { isProtectedPid, type Verdict, verifyIdentity } from '../os/identity.js';
import type { ProcessInspector } from '../os/inspector.js';
import type { ProcInfo } from '../os/proc.js';
import { readFileSafe } from './files.js';
import { servicePaths } from './paths.js';
import { parsePidText } from './pidfile.js';
import { readRecord, type ServiceRecord } from './record.js';

/** What is on disk for a service, checked against the live process table. */
export type ServiceState =
  | { readonly kind: 'none' }
  /** Recorded and verified: the process is ours and alive. */
  | {
      readonly kind: 'running';
      readonly record: ServiceRecord;
      readonly info: ProcInfo;
      readonly warning?: string;
    }
  /** Recorded, but the process is gone. */
  | {
      readonly kind: 'stale';
      readonly record: ServiceRecord | null;
      readonly pid: number;
      readonly reason: string;
    }
  /** The recorded PID is alive but is another process now. */
  | { readonly kind: 'reused'; readonly record: ServiceRecord; readonly info: ProcInfo }
  /**
   * The record belongs to another stack that shares the state folder: never
   * read, stopped, replaced or listed as this stack's.
   */
  | {
      readonly kind: 'other-stack';
      readonly file: string;
      /** The other stack's id (two configs in one folder share a name, never an id). */
      readonly stack: string;
      readonly pid: number;
    }
  /** A state file is unreadable or malformed. */
  | { readonly kind: 'corrupt'; readonly file: string; readonly reason: string }
  /** Cannot be checked from here: never signalled. */
  | {
      readonly kind: 'unverifiable';
      readonly record: ServiceRecord | null;
      readonly pid: number;
      readonly reason: string;
    };

/** What to tell the user about a record another stack wrote into the shared state folder. */
export function otherStackNote(
  service: string,
  state: { readonly file: string; readonly stack: string; readonly pid: number },
): string {
  return `${state.file} is the record of ${service} of another stack, ${state.stack} (pid ${state.pid}): left alone; give each stack its own pidDir`;
}

function fromVerdict(record: ServiceRecord, verdict: Verdict, warning?: string): ServiceState {
  switch (verdict.kind) {
    case 'ours':
      return { kind: 'running', record, info: verdict.info, ...(warning ? { warning } : {}) };
    case 'gone':
      return { kind: 'stale', record, pid: record.pid, reason: verdict.reason };
    case 'reused':
      return { kind: 'reused', record, info: verdict.info };
    case 'unverifiable':
      return { kind: 'unverifiable', record, pid: record.pid, reason: verdict.reason };
  }
}

/**
 * Reads a service's PID file and record and checks them against the live
 * process table: running (verified ours), stale (gone), reused (PID alive but
 * another process), corrupt (with the reason), unverifiable, another stack's
 * (`stack` is this stack's id), or none. Never signals anything.
 */
export function readServiceState(
  pidDir: string,
  service: string,
  inspector: ProcessInspector,
  stack: string,
): ServiceState {
  const paths = servicePaths(pidDir, service);
  const pidMax = inspector.pidMax();
  const record = readRecord(pidDir, service, pidMax);
  if (record !== null && 'corrupt' in record) {
    return { kind: 'corrupt', file: paths.record, reason: record.corrupt };
  }
  if (record !== null && record.stack !== stack) {
    return { kind: 'other-stack', file: paths.record, stack: record.stack, pid: record.pid };
  }
  const pidFile = readPidFile(paths.pid, pidMax);
  if (record === null) return withoutRecord(paths.pid, pidFile, inspector);
  if (isProtectedPid(record.pid, inspector)) {
    return {
      kind: 'corrupt',
      file: paths.record,
      reason: `PID ${record.pid} is launchguard itself or one of its ancestors`,
    };
  }
  const warning =
    'problem' in pidFile
      ? `the PID file is corrupt (${pidFile.problem}); the record is used`
      : 'pid' in pidFile && pidFile.pid !== record.pid
        ? `the PID file says ${pidFile.pid} but the record says ${record.pid}; the record is used`
        : undefined;
  return fromVerdict(record, verifyIdentity(record, inspector), warning);
}

/** What the PID file says: nothing (missing), a PID, or why it is corrupt. */
type PidFile = { readonly missing: true } | { readonly pid: number } | { readonly problem: string };

function readPidFile(path: string, pidMax: number): PidFile {
  const read = readFileSafe(path);
  if (read.kind === 'missing') return { missing: true };
  if (read.kind === 'invalid') return { problem: read.reason };
  const parsed = parsePidText(read.text, pidMax);
  return 'error' in parsed ? { problem: parsed.error } : { pid: parsed.pid };
}

/** The state of a PID file with no record beside it (another tool's, or a torn start). */
function withoutRecord(file: string, pidFile: PidFile, inspector: ProcessInspector): ServiceState {
  if ('missing' in pidFile) return { kind: 'none' };
  if ('problem' in pidFile) return { kind: 'corrupt', file, reason: pidFile.problem };
  const pid = pidFile.pid;
  if (isProtectedPid(pid, inspector))
    return {
      kind: 'corrupt',
      file,
      reason: `PID ${pid} is launchguard itself or one of its ancestors`,
    };
  const found = inspector.lookup(pid);
  if (found.kind === 'gone' || (found.kind === 'alive' && found.info.state === 'Z'))
    return { kind: 'stale', record: null, pid, reason: 'exited' };
  return {
    kind: 'unverifiable',
    record: null,
    pid,
    reason: 'the PID file has no record beside it (written by another tool?)',
  };
}
