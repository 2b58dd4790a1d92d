import {
  chmodSync,
  lstatSync,
  mkdirSync,
  opendirSync,
  realpathSync,
  type Stats,
  statfsSync,
  statSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { errnoCode, LaunchError } from '../errors.js';
import { octal } from '../format.js';
import { effectiveUid, otherGroupMembers, userName } from '../os/users.js';

/**
 * Trust in the state folder, checked like ssh's StrictModes: the records in
 * it decide which processes launchguard signals, and its logs receive the
 * services' output (tokens, connection strings). So the folder must belong
 * to the user running launchguard and be writable by nobody else, and so
 * must every file in it. What fails the check is refused with one clear
 * error (the folder) or moved aside (a file), never used.
 *
 * - The folder is created 0700; every file is created 0600. An existing
 *   folder readable by others is tightened to 0700 only if it holds nothing
 *   but launchguard's files (an older launchguard made it 0755): a folder
 *   that holds anything else (`pidDir: '.'`, a shared folder) keeps its mode,
 *   since changing it would change more than launchguard's state.
 * - A folder owned by another user, or writable by its group or by others,
 *   is refused (E_STATE, with the `chown`/`chmod` that fixes it).
 * - A symlinked folder is followed only if the link itself is the user's (or
 *   root's): a planted link to `/etc` is refused.
 * - A parent folder writable by everyone without the sticky bit is refused:
 *   anyone could replace the state folder between the check and its use.
 *
 * Windows has no uids or modes: there the checks are skipped (README, Limits).
 */

/**
 * Why a state file may not be used (owner, mode, links), or null if it may.
 * `links: true` accepts a second name: a lock is created by `link()`ing its
 * temp file into place, so for an instant it has two (and locks are never
 * written through, only replaced by `rename()`).
 */
export function fileTrustProblem(stat: Stats, links = false): string | null {
  const me = effectiveUid();
  if (me === null) return null;
  if (stat.uid !== me) return `it is owned by ${userName(stat.uid)}, not by ${userName(me)}`;
  if ((stat.mode & 0o022) !== 0) return `it is writable by others (mode ${octal(stat.mode)})`;
  if (stat.nlink > 1 && !links) return `it has ${stat.nlink} hard links`;
  return null;
}

function refuse(pidDir: string, what: string, hint: string): LaunchError {
  return new LaunchError('E_STATE', `state folder ${pidDir} ${what}`, { hint });
}

function unusable(pidDir: string, what: string, cause: unknown): LaunchError {
  const code = errnoCode(cause);
  return new LaunchError('E_STATE', `${what}: ${pidDir}${code ? ` (${code})` : ''}`, {
    hint: 'check that the folder exists, is writable and has free space, or set pidDir in the config',
    cause,
  });
}

/**
 * `mkdir -p` with a bounded walk, the last folder 0700. (Node's own recursive
 * mkdir never returns for some paths, e.g. under /proc, where every level
 * answers ENOENT.)
 */
function makeDirs(dir: string, mode: number, depth = 0): void {
  try {
    mkdirSync(dir, mode);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EEXIST') return;
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir || depth > 64) throw error;
    makeDirs(parent, 0o777, depth + 1); // ordinary folders above: the umask decides
    mkdirSync(dir, mode);
  }
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Checks the state folder before anything in it is read: nothing is written
 * (no folder is created, no mode changed). Returns false if it does not
 * exist. Throws E_STATE naming the folder and the fix.
 */
export function assertStateDir(pidDir: string): boolean {
  return inspectStateDir(pidDir, false);
}

/**
 * Creates the state folder (0700) if needed and checks it, as
 * {@link assertStateDir} does; an older launchguard's folder readable by
 * others is tightened to 0700. For commands that write records.
 */
export function ensureStateDir(pidDir: string): void {
  inspectStateDir(pidDir, true);
}

function inspectStateDir(pidDir: string, create: boolean): boolean {
  const options = { create };
  let link: Stats | null;
  try {
    link = lstatOrNull(pidDir);
    if (link === null) {
      if (!options.create) return false;
      makeDirs(pidDir, 0o700);
      link = lstatSync(pidDir);
    }
  } catch (error) {
    throw unusable(
      pidDir,
      options.create ? 'cannot create the state folder' : 'cannot use the state folder',
      error,
    );
  }
  const me = effectiveUid();
  if (link.isSymbolicLink() && me !== null && link.uid !== me && link.uid !== 0) {
    throw refuse(
      pidDir,
      `is a symbolic link owned by ${userName(link.uid)}: it is not followed`,
      `remove the link (launchguard creates the folder itself), or set pidDir to a folder of yours`,
    );
  }
  let stat: Stats;
  try {
    stat = link.isSymbolicLink() ? statSync(pidDir) : link;
  } catch (error) {
    throw unusable(pidDir, 'cannot use the state folder', error);
  }
  if (!stat.isDirectory()) throw unusable(pidDir, 'the state folder path is not a folder', null);
  assertRealFilesystem(pidDir);
  if (me === null) return true;
  if (stat.uid !== me) {
    throw refuse(
      pidDir,
      `is owned by ${userName(stat.uid)}, not by ${userName(me)}`,
      `run launchguard as ${userName(stat.uid)}; or, if you trust what is in it, take it over: chown -R ${userName(me)} ${pidDir}`,
    );
  }
  if ((stat.mode & 0o022) !== 0) {
    const who = (stat.mode & 0o002) !== 0 ? 'others' : 'its group';
    throw refuse(
      pidDir,
      `is writable by ${who} (mode ${octal(stat.mode)}): another user could plant records or logs in it`,
      `if you trust what is in it: chmod 700 ${pidDir}; otherwise remove it (launchguard recreates it, 0700)`,
    );
  }
  assertParents(pidDir);
  if (create && (stat.mode & 0o077) !== 0 && holdsOnlyState(pidDir)) {
    try {
      chmodSync(pidDir, 0o700); // an older launchguard made it 0755: logs are private
    } catch {
      // not fatal: nobody else can write it
    }
  }
  return true;
}

/** Kernel pseudo filesystems (statfs f_type): they hold no files of ours. */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x1cd1, 'devpts'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
]);

/** Refuses a state folder on a kernel pseudo filesystem (`/proc`, `/sys`): nothing can be kept there. */
function assertRealFilesystem(pidDir: string): void {
  let type: number;
  try {
    type = statfsSync(pidDir).type;
  } catch {
    return; // no statfs here (Windows): writing reports what is wrong
  }
  const name = PSEUDO_FS.get(type);
  if (name === undefined) return;
  throw new LaunchError(
    'E_STATE',
    `state folder ${pidDir} is on the kernel's ${name} filesystem, which cannot hold launchguard's files`,
    {
      hint: 'set pidDir in the config to an ordinary folder (the default is .pids beside the config)',
    },
  );
}

/** The names launchguard gives files in a state folder (see `paths.ts`, `files.ts`, `lease.ts`, `lock.ts`, `logfile.ts`). */
const STATE_FILE =
  /^(?:\..+\.\d+-[0-9a-f]{12}\.tmp|.+\.(?:pid|json|lock|log|log\.\d+|lease|claim|corrupt|exit))$/;

/**
 * True if the folder holds at least one file and only files named as
 * launchguard names its own: then it is an older launchguard's state folder
 * and may be tightened. Stops at the first other entry.
 */
function holdsOnlyState(dir: string): boolean {
  let found = false;
  try {
    const entries = opendirSync(dir);
    try {
      for (let entry = entries.readSync(); entry !== null; entry = entries.readSync()) {
        if (!entry.isFile() || !STATE_FILE.test(entry.name)) return false;
        found = true;
      }
    } finally {
      entries.closeSync();
    }
  } catch {
    return false; // unreadable: leave it as it is
  }
  return found;
}

/**
 * Refuses a state folder any of whose parents (up to `/`) others may rewrite:
 * writable by everyone, or by a group with other members, without the sticky
 * bit. Whoever may rename entries in a parent could swap the state folder for
 * a link to one of their choosing between the check and its use, and root
 * would then write records and logs where they say.
 */
function assertParents(pidDir: string): void {
  let real: string;
  try {
    real = realpathSync(pidDir);
  } catch {
    return; // raced with a removal: the next use fails with its own error
  }
  const me = effectiveUid() ?? 0;
  for (let parent = dirname(real); ; parent = dirname(parent)) {
    let stat: Stats;
    try {
      stat = statSync(parent);
    } catch {
      return;
    }
    if ((stat.mode & 0o1000) === 0) {
      if ((stat.mode & 0o002) !== 0)
        throw refuse(
          pidDir,
          `is in ${parent}, which everyone may write (mode ${octal(stat.mode)}, no sticky bit): another user could replace the state folder`,
          `chmod o-w ${parent}, or set pidDir to a folder only you can write`,
        );
      const others = (stat.mode & 0o020) === 0 ? [] : otherGroupMembers(stat.gid, me);
      if (others.length > 0)
        throw refuse(
          pidDir,
          `is in ${parent}, which its group may write (mode ${octal(stat.mode)}, no sticky bit; the group includes ${others.slice(0, 3).join(', ')}): they could replace the state folder`,
          `chmod g-w ${parent} (or chmod +t ${parent}), or set pidDir to a folder only you can write`,
        );
    }
    if (dirname(parent) === parent) return;
  }
}
