import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errnoCode } from '../errors.js';
import { pidExists } from '../os/proc.js';
import { randomHex } from './random.js';
import { fileTrustProblem } from './trust.js';

/**
 * State files: written atomically, read without following links or blocking.
 * Node opens every file descriptor close-on-exec, so none of them leaks into
 * a service.
 */

/**
 * Opening a state file for appending: created if missing, never through a
 * link (O_NOFOLLOW), never blocking on a FIFO (O_NONBLOCK).
 */
export const APPEND_NO_FOLLOW =
  constants.O_WRONLY |
  constants.O_APPEND |
  constants.O_CREAT |
  constants.O_NOFOLLOW |
  constants.O_NONBLOCK;

/** Temp files are `.<name>.<writer pid>-<random>.tmp` beside their target. */
const TEMP_FILE = /^\..+\.(\d+)-[0-9a-f]{12}\.tmp$/;

/** A temp file name beside `path`, naming the writing process. */
export function tempPathFor(path: string): string {
  const nonce = randomHex(6);
  return join(dirname(path), `.${basename(path)}.${process.pid}-${nonce}.tmp`);
}

/** True unless `pid` is certainly gone. */
function mayBeAlive(pid: number): boolean {
  return pid === process.pid || pidExists(pid);
}

/** True for names of temp files left by an interrupted write. */
export function isTempFile(name: string): boolean {
  return TEMP_FILE.test(name);
}

/**
 * Writes `data` to a new temp file beside `path` (O_EXCL, no follow) and
 * returns the temp file's path. The caller renames or links it into place.
 *
 * Not fsync'd, on purpose: state files describe running processes, and no
 * process outlives a crash of the machine. Other processes see the page cache,
 * so for every reader on a running system a rename is atomic without a flush;
 * after a power loss a file that did not reach the disk whole reads as corrupt
 * (moved aside, as any corrupt file) and the processes it named are gone. The
 * four flushes a start used to make cost 12-25 ms per service on a cloud disk.
 */
export function writeTempFile(path: string, data: string): string {
  const temp = tempPathFor(path);
  const fd = openSync(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    writeSync(fd, data);
  } catch (error) {
    closeSync(fd);
    unlinkQuiet(temp);
    throw Object.assign(error as Error, { path }); // write errors name no path: say which
  }
  closeSync(fd);
  return temp;
}

/**
 * Writes `data` to a temp file in the same folder and renames it over `path`.
 * A reader sees the old file or the new one, never a torn one; a symlink at
 * `path` is replaced, never written through. Not fsync'd: see {@link writeTempFile}.
 */
export function writeFileAtomic(path: string, data: string, fault?: () => void): void {
  const temp = writeTempFile(path, data);
  fault?.();
  try {
    renameSync(temp, path);
  } catch (error) {
    unlinkQuiet(temp);
    throw error;
  }
}

/** Removes a file, ignoring "not there". */
export function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
  }
}

/** What {@link readFileSafe} found. */
export type SafeRead =
  | { readonly kind: 'missing' }
  | { readonly kind: 'ok'; readonly text: string }
  /** Not a regular file, too large, a symlink, or unreadable: `reason` says which. */
  | { readonly kind: 'invalid'; readonly reason: string };

/** Largest state file launchguard reads. */
export const MAX_STATE_FILE = 64 * 1024;

/**
 * Reads a small state file safely: O_NOFOLLOW (a symlink is refused, not
 * followed), O_NONBLOCK (a FIFO cannot hang us), fstat on the open descriptor
 * (regular files only, owned by this user, writable by nobody else, one
 * link unless `links`), and at most `maxBytes` (a huge file is refused, not
 * loaded).
 */
export function readFileSafe(
  path: string,
  options: { readonly maxBytes?: number; readonly links?: boolean } = {},
): SafeRead {
  const maxBytes = options.maxBytes ?? MAX_STATE_FILE;
  const fd = openNoFollow(path);
  if (typeof fd !== 'number') return fd;
  try {
    const stat = fstatSync(fd);
    const problem = statProblem(stat, maxBytes, options.links);
    if (problem !== null) return { kind: 'invalid', reason: problem };
    // Sized by the file (a byte more, to see it grow), not by the limit: a buffer of 64 kB,
    // zero-filled, per state file read cost `down` of 500 services 200 ms. Only what was
    // read is ever looked at, so the buffer need not be zero-filled.
    let buffer = Buffer.allocUnsafe(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const larger = Buffer.allocUnsafe(Math.min(buffer.length * 2, maxBytes + 1));
        buffer.copy(larger, 0, 0, length);
        buffer = larger;
      }
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) return { kind: 'invalid', reason: 'it is too large' };
    }
    return { kind: 'ok', text: buffer.subarray(0, length).toString('utf8') };
  } catch (error) {
    return { kind: 'invalid', reason: `cannot read it (${errnoCode(error) ?? String(error)})` };
  } finally {
    closeSync(fd);
  }
}

/** Opens `path` for reading, never through a link, never blocking: the fd, or why not. */
function openNoFollow(path: string): number | Exclude<SafeRead, { kind: 'ok' }> {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') return { kind: 'missing' };
    if (code === 'ELOOP') return { kind: 'invalid', reason: 'it is a symbolic link' };
    if (code === 'EISDIR') return { kind: 'invalid', reason: 'it is a directory' };
    return { kind: 'invalid', reason: `cannot open it (${code ?? String(error)})` };
  }
}

/** Why an opened state file may not be read (kind, size, owner, mode, links), or null. */
function statProblem(stat: Stats, maxBytes: number, links?: boolean): string | null {
  if (stat.isDirectory()) return 'it is a directory';
  if (stat.isFIFO()) return 'it is a FIFO';
  if (!stat.isFile()) return 'it is not a regular file';
  if (stat.size > maxBytes) return `it is too large (${stat.size} bytes)`;
  return fileTrustProblem(stat, links);
}

/** Removes temp files left in `dir` by writers that died between write and rename. */
export function removeStaleTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!isTempFile(name)) continue;
    // A temp file of a live writer exists only for microseconds: one whose writer is
    // gone, or one old enough, is garbage.
    const path = join(dir, name);
    const writer = Number(TEMP_FILE.exec(name)?.[1]);
    try {
      if (mayBeAlive(writer) && Date.now() - lstatSync(path).mtimeMs < 5_000) continue;
      unlinkSync(path);
      removed.push(path);
    } catch {
      // another launcher removed it first
    }
  }
  return removed;
}

/** When this process last tidied each folder (performance.now()). */
const tidied = new Map<string, number>();

/**
 * {@link removeStaleTempFiles}, at most once a second per folder in this
 * process: each start and stop tidies the state folder, and one `down` of 200
 * services listed a folder of 1,000 files 200 times for it (about 100 ms).
 * A temp file of a dead writer can wait a second.
 */
export function tidyTempFiles(dir: string): void {
  const now = performance.now();
  if (now - (tidied.get(dir) ?? Number.NEGATIVE_INFINITY) < 1000) return;
  tidied.set(dir, now);
  removeStaleTempFiles(dir);
}
