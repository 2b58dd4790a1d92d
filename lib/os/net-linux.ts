import { closeSync, constants, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
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

/** One row of /proc/net/tcp{,6}: its listener, or `'other'` for a socket in any other state. */
function parseRow(line: string, family: 4 | 6): Listener | 'other' | null {
  const f = line.trim().split(/\s+/);
  if (f.length < 10) return null;
  if (f[3] !== LISTEN) return 'other';
  const [addr, portHex] = (f[1] ?? '').split(':');
  if (addr === undefined || portHex === undefined) return null;
  return {
    port: Number.parseInt(portHex, 16),
    address: formatProcAddress(addr),
    family,
    inode: Number(f[9]),
    uid: Number.isInteger(Number(f[7])) ? Number(f[7]) : null,
  };
}

/** Parses the text of /proc/net/tcp or /proc/net/tcp6 into its listening sockets. */
export function parseProcNetTcp(text: string, family: 4 | 6): Listener[] {
  const found: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const row = parseRow(line, family);
    if (row !== null && row !== 'other') found.push(row);
  }
  return found;
}

/**
 * Bytes asked for per read: about one row, so that the kernel makes no more
 * rows than read. IPv4 rows (and the header) are padded to exactly 150 bytes:
 * a read that ends with a row does not make the kernel look for the next one
 * (which, past the last socket, walks the whole established hash). IPv6 rows
 * vary in length.
 */
const ROW_BYTES = { 4: 150, 6: 160 } as const;

/**
 * The listening sockets of /proc/net/tcp or tcp6, read a row at a time up to
 * the first socket in another state. The kernel lists every listener first
 * (from the small listening hash) and then walks its whole established hash,
 * which is what makes a full read cost milliseconds even when a handful of
 * connections exist (3-4 ms on a 2-core VM). Stopping where the listeners end
 * skips most of that walk: 0.02-0.2 ms there.
 */
function readTable(path: string, family: 4 | 6, first?: number, most = Infinity): Listener[] {
  const found: Listener[] = [];
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch {
    return found; // no IPv6 in this kernel, or no /proc/net
  }
  let rows = 0;
  try {
    for (const line of rowsOf(fd, ROW_BYTES[family])) {
      const row = parseRow(line, family);
      if (row === 'other') break;
      if (row !== null) {
        found.push(row);
        if (row.port === first) break;
      }
      if (++rows >= most) break;
    }
  } catch {
    // the table went away (namespace gone): what was read stands
  } finally {
    closeSync(fd);
  }
  return found;
}

/** The rows of an open /proc/net table (no header), read about one at a time. */
function* rowsOf(fd: number, size: number): Generator<string> {
  const buffer = Buffer.allocUnsafe(size);
  let carry = '';
  let header = true;
  for (;;) {
    const n = readSync(fd, buffer, 0, size, null);
    if (n <= 0) return;
    const lines = (carry + buffer.toString('latin1', 0, n)).split('\n');
    carry = lines.pop() ?? '';
    for (const line of lines) {
      if (header) header = false;
      else yield line;
    }
  }
}

/**
 * Every listening TCP socket of this network namespace, IPv4 and IPv6 (or one
 * `family`), on one port or all, whoever owns it (Linux: /proc/net/tcp and
 * tcp6, read only as far as the listeners go; no external tools). `first`:
 * stop at the first listener on `port` (the rest of the table is not read).
 */
export function listenersLinux(port?: number, family?: 4 | 6, first = false): Listener[] {
  const stopAt = first ? port : undefined;
  const v4 = family === 6 ? [] : readTable('/proc/net/tcp', 4, stopAt);
  const v6 = family === 4 ? [] : readTable('/proc/net/tcp6', 6, stopAt);
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

/** Open descriptors of /proc/net/sockstat and sockstat6 (null: unreadable), read with pread. */
let sockstat: { readonly v4: number; readonly v6: number | null } | null | undefined;
const SOCKSTAT_BYTES = 512;
const sockstatBuffer = Buffer.allocUnsafe(SOCKSTAT_BYTES);

function sockstatText(fd: number): string {
  const n = readSync(fd, sockstatBuffer, 0, SOCKSTAT_BYTES, 0);
  return sockstatBuffer.toString('latin1', 0, n);
}

/** The TCP sockets in use (hashed), IPv4 and IPv6, and those in TIME_WAIT (both families). */
interface SocketCounts {
  readonly v4: number;
  readonly v6: number;
  readonly tw: number;
}

/**
 * The counts of /proc/net/sockstat and sockstat6, kept open and read with
 * pread: 3 microseconds, against 1 ms for a listener table where the kernel
 * walks a large, empty established hash to its end (a quiet VM with 24 GiB:
 * 262,144 buckets). Null where they cannot be read.
 */
function socketCounts(): SocketCounts | null {
  if (sockstat === undefined) {
    try {
      const v4 = openSync('/proc/net/sockstat', constants.O_RDONLY);
      let v6: number | null = null;
      try {
        v6 = openSync('/proc/net/sockstat6', constants.O_RDONLY);
      } catch {
        // no IPv6 in this kernel
      }
      sockstat = { v4, v6 };
    } catch {
      sockstat = null;
    }
  }
  if (sockstat === null) return null;
  try {
    const tcp = /^TCP: inuse (\d+) orphan \d+ tw (\d+)/m.exec(sockstatText(sockstat.v4));
    const tcp6 =
      sockstat.v6 === null ? null : /^TCP6: inuse (\d+)/m.exec(sockstatText(sockstat.v6));
    if (tcp === null) return null;
    return { v4: Number(tcp[1]), tw: Number(tcp[2]), v6: tcp6 === null ? 0 : Number(tcp6[1]) };
  } catch {
    return null;
  }
}

/**
 * A fingerprint of the TCP socket counts: `inuse` grows when a socket listens
 * or connects (it is hashed) and shrinks when one closes; a connect that ended
 * moves to TIME_WAIT, so a close and a new listener between two looks do not
 * cancel out.
 */
export function socketActivityLinux(): string | null {
  const c = socketCounts();
  return c === null ? null : `${c.v4} ${c.tw}|${c.v6}`;
}

/**
 * Every listener, read only as far as the socket counts say there can be
 * rows (listeners come first): no IPv6 table when no IPv6 socket exists, and
 * the IPv4 table stops after its last counted row instead of walking the
 * empty rest of the hash. A socket that opens between the count and the read
 * can hide a listener: a hint for wake-ups, never a verdict.
 */
export function listenersHintLinux(): Listener[] {
  const c = socketCounts();
  if (c === null) return listenersLinux();
  const v4 = readTable('/proc/net/tcp', 4, undefined, c.v4 + c.tw);
  const v6 = c.v6 === 0 ? [] : readTable('/proc/net/tcp6', 6);
  return [...v4, ...v6];
}
