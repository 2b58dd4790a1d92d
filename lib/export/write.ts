import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { errnoCode, LaunchError } from '../errors.js';
import { effectiveUid, otherGroupMembers } from '../os/users.js';

/**
 * Writing exported files safely, whoever else can reach the folder:
 *
 * - The output folder must be this user's (or root's) and writable by nobody
 *   else: not by everyone (sticky or not: another user could plant a name
 *   first), not by a group with other members. Otherwise the export is refused.
 * - Each file is written to a new temp name (`O_CREAT|O_EXCL|O_NOFOLLOW`) and
 *   renamed over its name: a symlink planted at the name is replaced, never
 *   written through, and a reader sees the old file or the new one.
 * - A manifest (`.launchguard-<format>.json`) lists what this export wrote,
 *   with each file's hash. The next export removes the files the manifest
 *   lists that it no longer writes (a removed service's unit), but only if
 *   they are still regular files with the content it wrote: a file someone
 *   edited, or never written by launchguard, is kept and named.
 */

/** One file to write: its name in the folder, content and mode. */
export interface ExportFile {
  readonly name: string;
  readonly text: string;
  /** 0o644 for units and Compose files, 0o600 for files with secrets. */
  readonly mode: number;
}

/** What {@link writeExport} did. */
export interface ExportWritten {
  readonly written: readonly string[];
  /** Files of an earlier export that no longer belong, removed. */
  readonly removed: readonly string[];
  /** Files of an earlier export that no longer belong but were changed since: kept. */
  readonly kept: readonly string[];
}

interface Manifest {
  readonly version: 1;
  readonly format: string;
  readonly files: Readonly<Record<string, string>>;
}

function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function refused(dir: string, why: string, hint: string): LaunchError {
  return new LaunchError('E_STATE', `cannot export to ${dir}: ${why}`, { hint });
}

/** Creates the output folder (0755) if missing, and refuses one others could write. */
function assertOutputDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (error) {
    throw refused(dir, `it cannot be created (${errnoCode(error) ?? 'error'})`, 'pick another -o');
  }
  const stat = lstatSync(dir);
  if (stat.isSymbolicLink() || !stat.isDirectory())
    throw refused(
      dir,
      'it is not a folder (a link is never followed)',
      'pick a real folder for -o',
    );
  const me = effectiveUid() ?? 0;
  if (stat.uid !== me && stat.uid !== 0)
    throw refused(
      dir,
      `it belongs to another user (uid ${stat.uid})`,
      'export to a folder of your own',
    );
  if ((stat.mode & 0o002) !== 0)
    throw refused(
      dir,
      `everyone may write it (mode ${octal(stat.mode)}): another user could plant a file or link in it`,
      'export to a folder only you can write (for example ./units), then copy the files',
    );
  const others = (stat.mode & 0o020) === 0 ? [] : otherGroupMembers(stat.gid, me);
  if (others.length > 0)
    throw refused(
      dir,
      `its group may write it (mode ${octal(stat.mode)}; the group includes ${others.slice(0, 3).join(', ')})`,
      `chmod g-w ${dir}, or export to a folder only you can write`,
    );
}

/** Writes one file by temp name and rename (never through a link at its name). */
function writeOne(dir: string, file: ExportFile): void {
  const target = join(dir, file.name);
  const temp = join(dir, `.${file.name}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    file.mode,
  );
  try {
    writeSync(fd, file.text);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temp, target);
  } catch (error) {
    unlinkSync(temp);
    throw error;
  }
}

function readManifest(path: string): Manifest | null {
  try {
    const stat = lstatSync(path);
    if (!stat.isFile()) return null;
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
    return parsed.version === 1 && typeof parsed.files === 'object' ? parsed : null;
  } catch {
    return null;
  }
}

/** The hash of a regular file's content (never through a link), or null. */
function hashOf(path: string): string | null {
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch {
    return null;
  }
  if (!stat.isFile()) return null;
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      return sha256(readFileSync(fd));
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

/**
 * Writes `files` into `dir` (see above) for `format`, and removes what the
 * previous export of that format wrote there and no longer writes.
 */
export function writeExport(
  dir: string,
  format: string,
  files: readonly ExportFile[],
): ExportWritten {
  assertOutputDir(dir);
  const manifestPath = join(dir, `.launchguard-${format}.json`);
  const before = readManifest(manifestPath);
  try {
    for (const file of files) writeOne(dir, file);
  } catch (error) {
    throw new LaunchError(
      'E_STATE',
      `cannot write the export in ${dir} (${errnoCode(error) ?? String(error)})`,
      { hint: 'check that the folder is yours and the disk has room', cause: error },
    );
  }
  const names = new Set(files.map((f) => f.name));
  const removed: string[] = [];
  const kept: string[] = [];
  const stillOurs: Record<string, string> = {};
  for (const [name, hash] of Object.entries(before?.files ?? {})) {
    if (names.has(name) || name.includes('/') || name.startsWith('.')) continue;
    const path = join(dir, name);
    const now = hashOf(path);
    if (now === null) continue; // gone, or not a regular file: not ours to touch
    if (now !== hash) {
      kept.push(name);
      continue;
    }
    try {
      unlinkSync(path);
      removed.push(name);
    } catch {
      kept.push(name);
      stillOurs[name] = hash;
    }
  }
  const manifest: Manifest = {
    version: 1,
    format,
    files: {
      ...stillOurs,
      ...Object.fromEntries(files.map((f) => [f.name, sha256(f.text)])),
    },
  };
  writeOne(dir, {
    name: `.launchguard-${format}.json`,
    text: `${JSON.stringify(manifest, null, 2)}\n`,
    mode: 0o644,
  });
  return { written: files.map((f) => f.name), removed, kept };
}
