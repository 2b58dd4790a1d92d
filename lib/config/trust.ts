import { type Stats, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { LaunchError } from '../errors.js';
import { octal } from '../format.js';
import { effectiveUid, userName } from '../os/users.js';

/**
 * A config is code, and an env file feeds every command's environment
 * (`NODE_OPTIONS=--require`, `LD_PRELOAD`): whoever may write either runs
 * code as whoever runs launchguard, often root. So, as ssh does with its
 * keys:
 *
 * - a config or env file that everyone may write is refused, and so is one in
 *   a folder that everyone may write without the sticky bit (anyone could
 *   replace it);
 * - a config launchguard found on its own (not named with `-c`) that belongs
 *   to another user is refused if others could have put it there: it was
 *   found in a parent folder of the working directory that its group or
 *   everyone may write, or in a folder everyone may write (`/tmp`): a file
 *   planted there would otherwise run as you. Named with `-c`, or in that
 *   user's own folder (a CI job running as root on a checkout owned by the
 *   runner's user, in a subfolder of a monorepo too), it is your choice.
 *
 * "Another user" is anyone but you, root, and under sudo the user who ran
 * sudo (`SUDO_UID`). Group-writable files are accepted (umask 002 is common).
 * What a config imports is not checked (README, Limits). No checks on
 * Windows, which has no modes.
 */

/** How the config was found: named with `-c`, in the working folder, or in a parent of it. */
export type ConfigSource = 'named' | 'here' | 'above';

function trustedOwner(uid: number, me: number, env: NodeJS.ProcessEnv): boolean {
  if (uid === me || uid === 0) return true;
  return me === 0 && env.SUDO_UID !== undefined && Number(env.SUDO_UID) === uid;
}

const everyoneWrites = (stat: Stats) => (stat.mode & 0o002) !== 0;

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

/**
 * Why `file` (a config or env file) may be changed by anyone, or null: it is
 * writable by everyone, or its folder is, without the sticky bit.
 */
export function looseFileProblem(file: string): { problem: string; fix: string } | null {
  if (effectiveUid() === null) return null;
  let stat: Stats;
  let folder: Stats;
  try {
    stat = statSync(file);
    folder = statSync(dirname(file));
  } catch {
    return null; // reading it reports what is wrong
  }
  if (everyoneWrites(stat))
    return {
      problem: `${file} is writable by everyone (mode ${octal(stat.mode)})`,
      fix: `chmod o-w ${file}`,
    };
  if (everyoneWrites(folder) && (folder.mode & 0o1000) === 0)
    return {
      problem: `${file} is in ${dirname(file)}, which everyone may write (mode ${octal(folder.mode)}, no sticky bit)`,
      fix: `chmod o-w ${dirname(file)}`,
    };
  return null;
}

/**
 * Checks the config file (its real path) before it is evaluated; throws
 * E_CONFIG (exit 2) naming the file and the fix.
 */
export function checkConfigTrust(
  file: string,
  source: ConfigSource,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): void {
  const me = effectiveUid();
  if (me === null) return;
  const loose = looseFileProblem(file);
  if (loose !== null) {
    throw new LaunchError(
      'E_CONFIG',
      `config ${loose.problem}: anyone on this machine could run code as ${userName(me)} through it`,
      { hint: `${loose.fix}, then run launchguard again` },
    );
  }
  if (source === 'named') return;
  let owner: number;
  let folder: Stats;
  try {
    owner = statSync(file).uid;
    folder = statSync(dirname(file));
  } catch {
    return;
  }
  if (trustedOwner(owner, me, env)) return;
  // Who else may put a file there: everyone (/tmp), or (found above) the folder's group too.
  const planted = source === 'here' ? 0o002 : 0o022;
  if ((folder.mode & planted) === 0) return;
  const where =
    source === 'above'
      ? `in a parent folder of ${cwd} that others may write`
      : 'in a folder everyone may write';
  throw new LaunchError(
    'E_CONFIG',
    `config ${file} belongs to ${userName(owner)} and was found ${where}: loading it would run its code as ${userName(me)}`,
    {
      hint: `if you trust it, name it: launchguard -c ${file} <command>; otherwise remove it or run launchguard where your own config is`,
    },
  );
}
