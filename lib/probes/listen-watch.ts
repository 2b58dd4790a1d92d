import type { ProcessInspector } from '../os/inspector.js';

/**
 * Wakes TCP checks the moment their port is listening, where the listener
 * tables can be read (/proc). A connect costs about 0.85 ms of CPU, so the
 * shared budget of connects (see `pace.ts`) probed each of 20 booting
 * services only every 200 ms, and "all ready" came 30-60 ms after the last
 * port opened. Instead, every {@link WATCH_EVERY} ms one look at the socket
 * counts (`socketActivity`, microseconds) says whether any socket opened,
 * listened or closed since the last look; only then are the listener tables
 * read (once for every pending check, and only as far as the counts say
 * there are rows: `listenersHint`, 0.2 ms where a full read walks an empty
 * established hash for 1.5 ms), and those reads are kept under 30 % of a
 * core.
 * Each check is then seen within a tick or two, and its connects become a
 * slow safety net (a listener the tables cannot show: another network
 * namespace reached through NAT).
 *
 * A check is woken when a listener it has not seen appears on its port: a
 * foreign holder of the port wakes it once, not every tick. The woken check
 * makes its usual attempt (connect, and the listener must be the service's).
 */

/** The period of the table read while checks wait, ms. */
export const WATCH_EVERY = 5;

interface Watch {
  readonly port: number;
  /** Listener inodes this check was woken for already. */
  readonly seen: Set<number>;
  readonly wake: () => void;
}

/**
 * The tables are read at least this often while checks wait, ms: socket
 * counts that went down and up again within a tick (a listen and a close)
 * hide a listener until then. At 500 ms, one start of 20 silent services in
 * six noticed its last port 408 ms late. Every 50 ms costs 5-8 ms more CPU
 * over a 2 s boot than every 500 (measured, same build), and only while
 * checks wait.
 */
const FORCE = 50;
/** Reads of the listener tables take at most this share of one core. */
const READ_SHARE = 0.3;

/** The watches of one inspector (one in practice), and when its tables are worth a read. */
interface Watched {
  readonly watches: Set<Watch>;
  /** The socket counts at the last read (undefined: read at the next tick). */
  activity: string | null | undefined;
  /** No read before this time (the CPU cap), ms. */
  notBefore: number;
  /** When the tables were read last, ms. */
  lastRead: number;
}

/** Pending watches, by the inspector that reads their tables. */
const watched = new Map<ProcessInspector, Watched>();
let timer: NodeJS.Timeout | undefined;

/** True where a read of the listener tables is cheap enough to poll (/proc). */
function canWatchListen(inspector: ProcessInspector): boolean {
  return inspector.backend === 'proc' && inspector.completeListeners;
}

/**
 * Calls `wake` whenever a listener this watch has not seen appears on
 * `port`, until the returned function is called. Null where the tables
 * cannot be read cheaply ({@link canWatchListen}): then nothing watches.
 */
export function watchListen(
  port: number,
  inspector: ProcessInspector,
  wake: () => void,
): (() => void) | null {
  if (!canWatchListen(inspector)) return null;
  const watch: Watch = { port, seen: new Set(), wake };
  let entry = watched.get(inspector);
  if (entry === undefined) {
    entry = { watches: new Set(), activity: undefined, notBefore: 0, lastRead: 0 };
    watched.set(inspector, entry);
  }
  entry.watches.add(watch);
  entry.activity = undefined; // a new watch has seen nothing yet: read at the next tick
  // Unref'd: the check's own timers keep the process alive while it waits.
  timer ??= setInterval(tick, WATCH_EVERY).unref();
  const own = entry;
  return () => {
    own.watches.delete(watch);
    if (own.watches.size === 0) watched.delete(inspector);
    if (watched.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}

function tick(): void {
  const now = performance.now();
  for (const [inspector, entry] of watched) {
    if (now < entry.notBefore) continue;
    const activity = inspector.socketActivity?.() ?? null;
    // Nothing opened, listened or closed since the last read: nothing new to see (and,
    // should counts that went down and up again hide a listener, a read every FORCE ms).
    if (activity !== null && activity === entry.activity && now - entry.lastRead < FORCE) continue;
    entry.lastRead = now;
    const cpu = process.cpuUsage();
    const listeners = readListeners(inspector);
    // CPU, not wall time: on a busy machine a read is preempted, and its wall time says so.
    const used = process.cpuUsage(cpu);
    entry.notBefore = now + (used.user + used.system) / 1000 / READ_SHARE;
    if (listeners === null) continue;
    entry.activity = activity;
    const byPort = new Map<number, number[]>();
    for (const l of listeners) byPort.set(l.port, [...(byPort.get(l.port) ?? []), l.inode]);
    for (const watch of [...entry.watches])
      if (news(watch, byPort.get(watch.port) ?? [])) watch.wake();
  }
}

/** Every listener, or null if unreadable now (the connects still run). */
function readListeners(inspector: ProcessInspector): ReturnType<ProcessInspector['listeners']> {
  try {
    return inspector.listenersHint?.() ?? inspector.listeners();
  } catch {
    return null;
  }
}

/** Whether `inodes` holds a listener `watch` has not seen (now seen). */
function news(watch: Watch, inodes: readonly number[]): boolean {
  let fresh = false;
  for (const inode of inodes) {
    if (watch.seen.has(inode)) continue;
    watch.seen.add(inode);
    fresh = true;
  }
  return fresh;
}
