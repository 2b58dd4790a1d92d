import type { Listener } from './proc.js';

/**
 * Parses `lsof -nP -iTCP -sTCP:LISTEN -F pufn` (`-F` output: one field per
 * line, a letter then the value; `p` starts a process, `f` a file). The same
 * on macOS, the BSDs and Linux. IPv6 addresses come in brackets
 * (`[::1]:8001`), the wildcard as `*` (`*:8001`, family from the `t` field:
 * `IPv4` or `IPv6`). Each socket is one listener with its holder PID.
 */
export function parseLsofListeners(text: string): Listener[] {
  const found = new Map<string, Listener & { pids: number[] }>();
  let pid = 0;
  let uid: number | null = null;
  let family: 4 | 6 = 4;
  for (const line of text.split('\n')) {
    const value = line.slice(1);
    switch (line.charAt(0)) {
      case 'p':
        pid = Number(value);
        uid = null;
        break;
      case 'u':
        uid = Number(value);
        break;
      case 't':
        family = value === 'IPv6' ? 6 : 4;
        break;
      case 'n': {
        const socket = lsofAddress(value, family);
        if (socket === null) break;
        const key = `${socket.address}|${socket.port}`;
        const entry = found.get(key) ?? { ...socket, inode: 0, uid, pids: [] };
        if (!entry.pids.includes(pid)) entry.pids.push(pid);
        found.set(key, entry);
        break;
      }
    }
  }
  return [...found.values()];
}

/** `127.0.0.1:8001`, `[::1]:8001` or `*:8001` (wildcard of the `t` field's family). */
function lsofAddress(
  name: string,
  family: 4 | 6,
): { port: number; address: string; family: 4 | 6 } | null {
  const m = /^(.*):(\d+)$/.exec(name);
  if (m === null) return null;
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  const v6 = family === 6 || host.includes(':');
  const address = host === '*' ? (v6 ? '::' : '0.0.0.0') : host;
  return { port: Number(m[2]), address, family: v6 ? 6 : 4 };
}

/**
 * Parses `netstat -ano -p TCP` (Windows): the LISTENING sockets with their
 * owning PID. Written and tested on recorded output; the Windows backend
 * uses it only to name a port's holder (see the README's Limits).
 */
export function parseNetstatListeners(text: string): Listener[] {
  const found: Listener[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*TCP\s+(\S+):(\d+)\s+\S+\s+LISTENING\s+(\d+)\s*$/i.exec(line);
    if (m === null) continue;
    const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
    found.push({
      port: Number(m[2]),
      address: host,
      family: host.includes(':') ? 6 : 4,
      inode: 0,
      uid: null,
      pids: [Number(m[3])],
    });
  }
  return found;
}
