import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { endianness } from 'node:os';
import type { Listener } from './proc.js';

const LISTEN = '0A';

/** `0100007F` (host byte order) → `127.0.0.1`. */
function hexWordBytes(hex: string): number[] {
  const bytes = [0, 2, 4, 6].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  return endianness() === 'LE' ? bytes.reverse() : bytes;
}

/** Formats a /proc/net address field (IPv4: 8 hex digits, IPv6: 32). */
export function formatProcAddress(hex: string): string {
  if (hex.length === 8) return hexWordBytes(hex).join('.');
  const bytes: number[] = [];
  for (let w = 0; w < 32; w += 8) bytes.push(...hexWordBytes(hex.slice(w, w + 8)));
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  // Compress the longest run of zero groups, as RFC 5952 asks.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (bestLen < 2) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Parses the text of /proc/net/tcp or /proc/net/tcp6 into its listening sockets. */
export function parseProcNetTcp(text: string, family: 4 | 6): Listener[] {
  const found: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== LISTEN) continue;
    const [addr, portHex] = (f[1] ?? '').split(':');
    if (addr === undefined || portHex === undefined) continue;
    found.push({
      port: Number.parseInt(portHex, 16),
      address: formatProcAddress(addr),
      family,
      inode: Number(f[9]),
      uid: Number.isInteger(Number(f[7])) ? Number(f[7]) : null,
    });
  }
  return found;
}

function readTable(path: string, family: 4 | 6): Listener[] {
  try {
    return parseProcNetTcp(readFileSync(path, 'latin1'), family);
  } catch {
    return []; // no IPv6 in this kernel, or no /proc/net
  }
}

/**
 * Every listening TCP socket of this network namespace, IPv4 and IPv6 (or one
 * `family`), on one port or all, whoever owns it (Linux: /proc/net/tcp and
 * tcp6, no external tools). Each read costs about a millisecond on some kernels.
 */
export function listenersLinux(port?: number, family?: 4 | 6): Listener[] {
  const v4 = family === 6 ? [] : readTable('/proc/net/tcp', 4);
  const v6 = family === 4 ? [] : readTable('/proc/net/tcp6', 6);
  const all = [...v4, ...v6];
  return port === undefined ? all : all.filter((l) => l.port === port);
}

/** The socket inodes a process holds open (Linux), or null if its fds are unreadable. */
function socketInodes(pid: number): Set<number> | null {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  const inodes = new Set<number>();
  for (const fd of fds) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (link.startsWith('socket:[')) inodes.add(Number(link.slice(8, -1)));
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** PIDs among `pids` that hold one of the listeners' sockets open (Linux: /proc/PID/fd). */
export function holdersLinux(listeners: readonly Listener[], pids: Iterable<number>): number[] {
  const inodes = new Set(listeners.map((l) => l.inode));
  const holders: number[] = [];
  if (inodes.size === 0) return holders;
  for (const pid of pids) {
    const held = socketInodes(pid);
    if (held !== null && [...inodes].some((i) => held.has(i))) holders.push(pid);
  }
  return holders;
}
