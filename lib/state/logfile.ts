import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { errnoCode, stateError } from '../errors.js';
import { APPEND_NO_FOLLOW, unlinkQuiet } from './files.js';
import { forgetTimes } from './logtimes.js';
import { fileTrustProblem } from './trust.js';

/**
 * Service log files in the state folder, opened without ever following a
 * link or blocking: O_NOFOLLOW (a planted symlink to /etc/shadow is neither
 * written through nor read), O_NONBLOCK (a FIFO cannot hang the launcher in
 * open()), and an fstat of the open descriptor (a regular file, this user's,
 * writable by nobody else, one link). Logs are created 0600: they routinely
 * hold tokens and connection strings.
 */

const APPEND = APPEND_NO_FOLLOW;
const READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Why an open log descriptor may not be used, or null. */
function problemOf(fd: number): string | null {
  const stat = fstatSync(fd);
  if (stat.isFIFO()) return 'is a FIFO';
  if (stat.isDirectory()) return 'is a folder';
  if (!stat.isFile()) return 'is not a regular file';
  const untrusted = fileTrustProblem(stat);
  if (untrusted !== null) return untrusted.replace(/^it /, '');
  if ((stat.mode & 0o077) !== 0) fchmodSync(fd, 0o600); // made 0644 by an older launchguard
  return null;
}

/** What `open()` said about a path that cannot be a log, or null to rethrow. */
function openProblem(error: unknown): string | null {
  switch (errnoCode(error)) {
    case 'ELOOP':
      return 'is a symbolic link';
    case 'ENXIO':
      return 'is a FIFO'; // O_WRONLY|O_NONBLOCK on a FIFO without a reader
    case 'EISDIR':
      return 'is a folder';
    default:
      return null;
  }
}

/** A log opened for appending, and what had to be moved aside first. */
export interface AppendLog {
  readonly fd: number;
  /** Set when something else sat at the log's path: it was moved aside (never followed). */
  readonly note?: string;
}

/**
 * Opens (creating, 0600) a service's log for appending. Anything else at the
 * path (a symlink, a FIFO, a folder, another user's file) is renamed to
 * `<log>.corrupt` and a fresh log is created. Throws E_STATE if the disk refuses.
 */
export function openLogForAppend(path: string, service: string): AppendLog {
  let problem: string | null;
  try {
    const fd = openSync(path, APPEND, 0o600);
    problem = problemOf(fd);
    if (problem === null) return { fd };
    closeSync(fd);
  } catch (error) {
    problem = openProblem(error);
    if (problem === null) throw stateError(path, 'cannot open the log file', error, service);
  }
  const aside = `${path}.corrupt`;
  try {
    renameSync(path, aside); // renames the link or FIFO itself
    const fd = openSync(path, APPEND | constants.O_EXCL, 0o600);
    return {
      fd,
      note: `the log file ${path} ${problem}: moved aside to ${aside} (never followed)`,
    };
  } catch (error) {
    throw stateError(path, `the log file ${problem} and cannot be moved aside`, error, service);
  }
}

/** A log opened for reading. */
export type ReadLog =
  | { readonly kind: 'ok'; readonly fd: number }
  | { readonly kind: 'missing' }
  /** Not a regular file of this user: never read. `reason` completes "<path> ...". */
  | { readonly kind: 'invalid'; readonly reason: string };

/** Opens a service's log for reading, refusing links, FIFOs and other users' files. */
export function openLogForRead(path: string): ReadLog {
  let fd: number;
  try {
    fd = openSync(path, READ);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { kind: 'missing' };
    const reason = openProblem(error) ?? `cannot be opened (${errnoCode(error) ?? 'error'})`;
    return { kind: 'invalid', reason };
  }
  try {
    const problem = problemOf(fd);
    if (problem === null) return { kind: 'ok', fd };
    closeSync(fd);
    return { kind: 'invalid', reason: problem };
  } catch (error) {
    closeSync(fd);
    return { kind: 'invalid', reason: `cannot be read (${errnoCode(error) ?? 'error'})` };
  }
}

/**
 * Rotates a service's log before a new instance starts: if it has grown to
 * `maxSize` bytes, `<log>.N` becomes `<log>.N+1` (the oldest beyond `keep`
 * is removed) and the log becomes `<log>.1`. Renames act on the names, never
 * through a link; anything odd is left for `openLogForAppend` to move aside.
 */
export function rotateLog(path: string, maxSize: number, keep: number): void {
  let size: number;
  try {
    const stat = lstatSync(path);
    if (!stat.isFile()) return;
    size = stat.size;
  } catch {
    return; // no log yet
  }
  if (size < maxSize) return;
  forgetTimes(path);
  if (keep === 0) {
    unlinkQuiet(path);
    return;
  }
  unlinkQuiet(`${path}.${keep}`);
  for (let n = keep - 1; n >= 1; n--) renameQuiet(`${path}.${n}`, `${path}.${n + 1}`);
  renameQuiet(path, `${path}.1`);
}

/**
 * Rotates a log while its service writes to it (the keeper): once it has
 * grown to `maxSize`, its content is copied to `<log>.1` (older ones shift up,
 * `keep` are kept) and the file is truncated in place. The service never
 * notices: it writes with O_APPEND, so its next line lands at the new end.
 * Lines written between the copy and the truncation are lost (the README
 * says how many at 2 MB/s). The file is opened without following links.
 * Returns true if it rotated.
 */
export function rotateRunningLog(path: string, maxSize: number, keep: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size < maxSize) return false;
    if (keep > 0) {
      unlinkQuiet(`${path}.${keep}`);
      for (let n = keep - 1; n >= 1; n--) renameQuiet(`${path}.${n}`, `${path}.${n + 1}`);
      const copy = openSync(
        `${path}.1`,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
      try {
        const buffer = Buffer.alloc(1 << 20);
        for (let at = 0; ; ) {
          const n = readSync(fd, buffer, 0, buffer.length, at);
          if (n === 0) break;
          writeSync(copy, buffer, 0, n);
          at += n;
        }
      } finally {
        closeSync(copy);
      }
    }
    ftruncateSync(fd, 0);
    forgetTimes(path);
    return true;
  } finally {
    closeSync(fd);
  }
}

function renameQuiet(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
  }
}
