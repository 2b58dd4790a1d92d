/** A systemd unit a process runs in, and whether it belongs to a user's manager. */
export interface SystemdUnit {
  /** `name.service` */
  readonly unit: string;
  /** True for a user unit (`systemctl --user`), below `user@UID.service`. */
  readonly user: boolean;
}

function unitOfPath(path: string): SystemdUnit | null {
  const parts = path.split('/').filter(Boolean);
  let unit: string | null = null;
  let below: string[] = [];
  parts.forEach((p, i) => {
    if (p.endsWith('.service') && !/^user@\d+\.service$/.test(p)) {
      unit = p;
      below = parts.slice(i + 1);
    }
  });
  if (unit === null || below.some((p) => p.endsWith('.scope'))) return null;
  return { unit, user: parts.some((p) => /^user@\d+\.service$/.test(p)) };
}

/**
 * The systemd unit a process runs in, from the text of /proc/PID/cgroup (or
 * `ps -o cgroup=`, `;`-separated): the deepest `.service` component of the
 * unified (`0::`) or the `name=systemd` hierarchy, unless a `.scope` (a login
 * session, a terminal) sits below it. `user@1000.service` (the user's
 * manager) does not count by itself.
 */
export function systemdUnit(cgroupText: string): SystemdUnit | null {
  const lines = cgroupText.split(/[\n;]/);
  for (const prefix of ['0::', ':name=systemd:']) {
    const line = lines.find((l) => (prefix === '0::' ? l.startsWith(prefix) : l.includes(prefix)));
    const found = line === undefined ? null : unitOfPath(line.slice(line.indexOf(':/') + 1));
    if (found !== null) return found;
  }
  return null;
}
