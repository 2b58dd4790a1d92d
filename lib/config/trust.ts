import { type Stats, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { LaunchError } from '../errors.js';
import { octal } from '../format.js';
import { effectiveUid, userName } from '../os/users.js';

/**
 * A config is code, and an env file feeds every command's environment
 * (`NODE_OPTIONS=--require`, `LD_PRELOAD`): whoever may write either runs
 * code as whoever runs launchguard, often root. So, as ssh does with its
 * keys, every such file is judged where it was found, link by link (see
 * `trusted-file.ts`), with these rules for each place on the way:
 *
 * - a file that everyone may write is refused, and so is a file or link in a
 *   folder that everyone may write without the sticky bit (anyone could
 *   replace it);
 * - a file or link that belongs to another user is refused if others could
 *   have put it there ({@link FileRole}): a config found on its own in the
 *   working folder, when everyone may write that folder (`/tmp`); a config
 *   found in a parent folder, or an env file, when its group or everyone may
 *   write the folder. Named with `-c`, or in that user's own folder (a CI job
 *   running as root on a checkout owned by the runner's user, in a subfolder
 *   of a monorepo too), it is your choice.
 *
 * "Another user" is anyone but you, root, and under sudo the user who ran
 * sudo (`SUDO_UID`). Group-writable files are accepted (umask 002 is common).
 * What a config imports is not checked (README, Limits). No checks on
 * Windows, which has no modes.
 */

/**
 * How a file came to be read, which decides who may have put it there: a
 * config named with `-c`, found in the working folder, found in a parent of
 * it, or an env file a config names.
 */
export type FileRole = 'named' | 'here' | 'above' | 'env';

/** The folder mode bits that let others plant a file owned by someone else, per role. */
const PLANTED: Readonly<Record<FileRole, number>> = {
  named: 0,
  here: 0o002,
  above: 0o022,
  env: 0o022,
};

function trustedOwner(uid: number, me: number, env: NodeJS.ProcessEnv): boolean {
  if (uid === me || uid === 0) return true;
  return me === 0 && env.SUDO_UID !== undefined && Number(env.SUDO_UID) === uid;
}

const everyoneWrites = (mode: number) => (mode & 0o002) !== 0;
const sticky = (mode: number) => (mode & 0o1000) !== 0;

/**
 * True if `path` exists, belongs to a trusted user (you, root, the sudo user)
 * and nobody else may write it (`group: true`: not its group either). Always
 * true on Windows.
 */
export function trustedPath(path: string, group = false): boolean {
  const me = effectiveUid();
  if (me === null) return true;
  try {
    const stat = statSync(path);
    return trustedOwner(stat.uid, me, process.env) && (stat.mode & (group ? 0o022 : 0o002)) === 0;
  } catch {
    return false;
  }
}

/** One place on the way to a config or env file: a link or the file itself, and its folder. */
export interface Place {
  /** The path as it was met (a link's own path, or the real file). */
  readonly path: string;
  readonly stat: Stats;
  readonly folder: string;
  readonly folderStat: Stats;
  /** Where the link points (links only). */
  readonly target?: string;
}

function noun(role: FileRole): string {
  return role === 'env' ? 'env file' : 'config';
}

/**
 * Throws E_CONFIG (exit 2) if `place` lets someone else decide what runs: see
 * the rules above. `shown` is the path the user knows the file by.
 */
export function assertTrustedPlace(
  place: Place,
  role: FileRole,
  shown: string,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): void {
  const me = effectiveUid();
  if (me === null) return;
  const what = noun(role);
  const link = place.target !== undefined;
  const it = link
    ? `${what} ${shown}: the symbolic link ${place.path} (to ${place.target})`
    : shown === place.path
      ? `${what} ${shown}`
      : `${what} ${shown} (really ${place.path})`;
  // Words for an error only: a user's name costs a read of /etc/passwd.
  const runs = () => `anyone on this machine could run code as ${userName(me)} through it`;
  if (!link && everyoneWrites(place.stat.mode)) {
    throw new LaunchError(
      'E_CONFIG',
      `${it} is writable by everyone (mode ${octal(place.stat.mode)}): ${runs()}`,
      { hint: `chmod o-w ${place.path}, then run launchguard again` },
    );
  }
  if (everyoneWrites(place.folderStat.mode) && !sticky(place.folderStat.mode)) {
    throw new LaunchError(
      'E_CONFIG',
      `${it} is in ${place.folder}, which everyone may write (mode ${octal(place.folderStat.mode)}, no sticky bit): ${runs()}`,
      { hint: `chmod o-w ${place.folder}, then run launchguard again` },
    );
  }
  const owner = place.stat.uid;
  if (trustedOwner(owner, me, env) || (place.folderStat.mode & PLANTED[role]) === 0) return;
  const where =
    role === 'above'
      ? `in a parent folder of ${cwd} that others may write`
      : role === 'here'
        ? 'in a folder everyone may write'
        : `in ${place.folder}, which others may write`;
  throw new LaunchError(
    'E_CONFIG',
    `${it} belongs to ${userName(owner)} and was found ${where}: loading it would run its code as ${userName(me)}`,
    {
      hint:
        role === 'env'
          ? `if you trust it, take it over (chown ${userName(me)} ${place.path}); otherwise remove it from the config`
          : `if you trust it, name it: launchguard -c ${shown} <command>; otherwise remove it or run launchguard where your own config is`,
    },
  );
}

/** The folder of `path`, with its stat (for {@link Place}). */
export function folderOf(path: string): { folder: string; folderStat: Stats } {
  const folder = dirname(path);
  return { folder, folderStat: statSync(folder) };
}
