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
