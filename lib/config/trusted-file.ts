import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readlinkSync,
  readSync,
  type Stats,
} from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { errnoCode, LaunchError } from '../errors.js';
import { effectiveUid } from '../os/users.js';
import { assertTrustedPlace, type FileRole, folderOf } from './trust.js';

/**
 * Reading a config or env file so that what runs is what was judged:
 *
 * 1. The path is walked as it was found, one component at a time, the way the
 *    kernel resolves it. Every symbolic link met on the way is judged in its
 *    own folder, by the same rules as a regular file there (`trust.ts`):
 *    a link another user planted in `/tmp` is refused even if it points into
 *    that user's own 0755 folder.
 * 2. The real file is opened once (O_NOFOLLOW, O_NONBLOCK), and the checks
 *    that matter are made on that descriptor (`fstat`: a regular file, the
 *    same file the walk judged, its owner and mode).
 * 3. Its bytes are read from that descriptor, and those bytes are what is
 *    evaluated (`import.ts`): nothing opens the path a second time, so a
 *    file swapped in after the check is never run.
 */

/** What {@link readTrustedFile} read. */
export interface TrustedFile {
  /** The real path (links resolved): the stack's identity and the base of relative paths. */
  readonly real: string;
  /** The file's bytes as UTF-8, read from the descriptor that was checked. */
  readonly text: string;
}

/** Longest config or env file read, bytes. */
const MAX_BYTES = 4 * 1024 * 1024;
/** Most links followed on one path (Linux's own limit). */
const MAX_LINKS = 40;

function notFound(shown: string, role: FileRole, cause: unknown): LaunchError {
  const code = errnoCode(cause);
  if (role === 'env') return new LaunchError('E_CONFIG', `cannot read env file ${shown} (${code})`);
  return new LaunchError(
    'E_CONFIG',
    code === 'ENOENT'
      ? `config file ${shown} not found`
      : `cannot read config file ${shown} (${code})`,
    {
      hint:
        role === 'named'
          ? 'check the path given to -c/--config'
          : 'check the file, then run launchguard again',
      cause,
    },
  );
}

/**
 * Resolves `path` (absolute) like realpath, judging every link on the way.
 * Returns the real path and the lstat of the file it ends at.
 */
function walk(
  path: string,
  role: FileRole,
  shown: string,
  cwd: string,
): { real: string; stat: Stats } {
  const pending = path.split('/');
  let current = '/';
  let links = 0;
  let stat: Stats | undefined;
  while (pending.length > 0) {
    const name = pending.shift() as string;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      current = dirname(current);
      continue;
    }
    const next = join(current, name);
    const here = lstatSync(next);
    if (!here.isSymbolicLink()) {
      current = next;
      stat = here;
      continue;
    }
    if (++links > MAX_LINKS)
      throw Object.assign(new Error(`too many symbolic links in ${path}`), { code: 'ELOOP' });
    const target = readlinkSync(next);
    assertTrustedPlace({ path: next, stat: here, target, ...folderOf(next) }, role, shown, cwd);
    pending.unshift(...target.split('/'));
    if (isAbsolute(target)) current = '/';
  }
  if (stat === undefined) throw Object.assign(new Error(`${path} is a folder`), { code: 'EISDIR' });
  return { real: current, stat };
}

function readAll(fd: number, shown: string, role: FileRole): string {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buffer = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buffer, 0, buffer.length, null);
    if (n === 0) break;
    total += n;
    if (total > MAX_BYTES)
      throw new LaunchError('E_CONFIG', `${shown} is larger than ${MAX_BYTES} bytes`, {
        hint: `is it really a ${role === 'env' ? 'env file' : 'launchguard config'}?`,
      });
    chunks.push(buffer.subarray(0, n));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Reads a config (`role` says how it was found) or an env file, judged as
 * described above. `file` may be relative to `cwd`. Throws E_CONFIG naming
 * the file, the cause and the fix.
 */
export function readTrustedFile(file: string, role: FileRole, cwd: string): TrustedFile {
  const path = resolve(cwd, file);
  const checked = effectiveUid() !== null;
  let judged: { real: string; stat: Stats };
  try {
    judged = checked ? walk(path, role, path, cwd) : { real: path, stat: lstatSync(path) };
  } catch (error) {
    if (error instanceof LaunchError) throw error;
    throw notFound(path, role, error);
  }
  let fd: number;
  try {
    fd = openSync(
      judged.real,
      constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0),
    );
  } catch (error) {
    throw notFound(path, role, error);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile())
      throw new LaunchError('E_CONFIG', `${path} is not a regular file`, {
        hint:
          role === 'named'
            ? 'give -c/--config the path of a launch.config.ts file'
            : 'replace it with a regular file',
      });
    if (checked) {
      if (stat.dev !== judged.stat.dev || stat.ino !== judged.stat.ino)
        throw new LaunchError('E_CONFIG', `${path} was replaced while it was being checked`, {
          hint: 'someone changed it at this very moment: find out who, then run launchguard again',
        });
      assertTrustedPlace({ path: judged.real, stat, ...folderOf(judged.real) }, role, path, cwd);
    }
    return { real: judged.real, text: readAll(fd, path, role) };
  } finally {
    closeSync(fd);
  }
}
