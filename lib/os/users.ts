import { readFileSync } from 'node:fs';

let users: Map<number, string> | undefined;

/** A user name for a uid (from /etc/passwd), or `uid N`. */
export function userName(uid: number | null): string {
  if (uid === null) return 'unknown user';
  if (users === undefined) {
    users = new Map();
    try {
      for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const [name, , id] = line.split(':');
        if (name && id !== undefined && /^\d+$/.test(id)) users.set(Number(id), name);
      }
    } catch {
      // no passwd file (Windows, minimal containers)
    }
  }
  return users.get(uid) ?? `uid ${uid}`;
}

/**
 * The launcher's effective uid, or null where the OS has none (Windows).
 * Every process launchguard may signal by a marker or a port must belong to
 * this user; see `mayTouch` in `process/stop.ts`.
 */
export function effectiveUid(): number | null {
  return process.geteuid?.() ?? null;
}

/** The lines of a colon-separated system file (`/etc/passwd`, `/etc/group`), split; none if unreadable. */
function records(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

/**
 * The users other than `me` and root who belong to group `gid` (as listed in
 * `/etc/group`, or by their primary group in `/etc/passwd`). Empty for a
 * user-private group (umask 002 setups): its group write bit lets nobody
 * else in. Users from a directory service (LDAP) are not seen.
 */
export function otherGroupMembers(gid: number, me: number): string[] {
  const names = new Set<string>();
  const meName = userName(me);
  for (const [name, , id, group] of records('/etc/passwd'))
    if (name && Number(group) === gid && Number(id) !== me && Number(id) !== 0) names.add(name);
  for (const [, , id, members] of records('/etc/group'))
    if (Number(id) === gid)
      for (const m of (members ?? '').split(','))
        if (m !== '' && m !== meName && m !== 'root') names.add(m);
  return [...names];
}
