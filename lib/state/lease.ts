import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { stateError } from '../errors.js';
import { type ProcessIdentity, selfIdentity, verifyIdentity } from '../os/identity.js';
import type { ProcessInspector } from '../os/inspector.js';
import { readFileSafe, unlinkQuiet, writeFileAtomic } from './files.js';
import { randomHex } from './random.js';

/**
 * Leases: who is using a service right now. Every live user of a stack (a
 * foreground `up`, a `run`, a `launch()` handle) holds a lease on each
 * service it uses, started or kept: a file `<service>.<holder>.lease` in the
 * state folder naming the holder process (verified by identity, like a lock
 * owner). A user that is done releases its leases, and stops a service only
 * if no other live lease holds it (the last one out stops it). A lease whose
 * holder died (SIGKILL) does not count, and is removed when next seen.
 * `down` stops services regardless and ends every lease.
 *
 * A lease belongs to one stack (two stacks may share a state folder): another
 * stack's leases are neither counted nor removed. And a lease counts only if
 * its holder is a launcher: alive with the start time the lease names, and a
 * Node.js process (the CLI, or the host of `launch()`). A lease file naming
 * any other process (PID 1, a shell) keeps nothing running.
 */

/** One user of a stack: a process and a nonce (one per `up`, `run` or `launch()`). */
export interface LeaseHolder {
  readonly nonce: string;
  readonly identity: ProcessIdentity;
  /** The stack id of the services it holds. */
  readonly stack: string;
}

/** What a lease file holds. */
export interface Lease extends ProcessIdentity {
  readonly version: 1;
  readonly service: string;
  /** The stack id (absent in leases of launchguard before 0.2: taken as this stack's). */
  readonly stack?: string;
  /** The holder's nonce (also in the file name). */
  readonly holder: string;
  /** ISO time the lease was taken. */
  readonly since: string;
}

const LEASE_FILE = /^(.+)\.([0-9a-f]{16})\.lease$/;

/** A holder for this process (the launcher, or the host of `launch()`). */
export function newLeaseHolder(inspector: ProcessInspector, stack: string): LeaseHolder {
  const identity = selfIdentity(inspector) ?? {
    pid: process.pid,
    startTime: '',
    bootId: null,
    pidNamespace: null,
  };
  return { nonce: randomHex(8), identity, stack };
}

function leasePath(pidDir: string, service: string, nonce: string): string {
  return join(pidDir, `${service}.${nonce}.lease`);
}

/** Takes (or renews) `holder`'s lease on `service`. Callers hold the service's lock. */
export function writeLease(pidDir: string, holder: LeaseHolder, service: string): void {
  const lease: Lease = {
    version: 1,
    ...holder.identity,
    service,
    stack: holder.stack,
    holder: holder.nonce,
    since: new Date().toISOString(),
  };
  const path = leasePath(pidDir, service, holder.nonce);
  try {
    writeFileAtomic(path, `${JSON.stringify(lease)}\n`);
  } catch (error) {
    throw stateError(path, 'cannot write the lease', error, service);
  }
}

/** True while `holder` holds a lease on `service` (`down` ends every lease before it stops). */
export function holdsLease(pidDir: string, holder: LeaseHolder, service: string): boolean {
  return existsSync(leasePath(pidDir, service, holder.nonce));
}

/** Gives `holder`'s lease on `service` back (nothing if it has none). */
export function removeLease(pidDir: string, holder: LeaseHolder, service: string): void {
  unlinkQuiet(leasePath(pidDir, service, holder.nonce));
}

/**
 * One listing of a state folder, shared by the stops of one `down` (a folder
 * of 500 services holds some 2,500 files: listing it once per service cost
 * `down` about a second). A lease on a service is written only under the
 * service's lock, so a listing that began after the caller took that lock
 * has every lease on it: {@link names} reuses such a listing, and lists again
 * otherwise.
 */
export interface StateListing {
  /** The folder's file names, from a listing that began at `since` (performance.now()) or later. */
  names(since: number): readonly string[];
}

function listNames(pidDir: string): string[] {
  try {
    return readdirSync(pidDir);
  } catch {
    return [];
  }
}

/** A {@link StateListing} of `pidDir`, listed when first asked. */
export function stateListing(pidDir: string): StateListing {
  let last: { at: number; names: readonly string[] } | undefined;
  return {
    names(since) {
      if (last === undefined || last.at < since) {
        const at = performance.now(); // before the listing: it sees what existed then
        last = { at, names: listNames(pidDir) };
      }
      return last.names;
    },
  };
}

/** Every lease file of `service`, parsed (unreadable ones as null), from `names` or a fresh listing. */
function leaseFiles(
  pidDir: string,
  service: string,
  names: readonly string[] = listNames(pidDir),
): { path: string; lease: Lease | null }[] {
  return leaseNamesOf(names, service).map((name) => {
    const path = join(pidDir, name);
    const read = readFileSafe(path);
    if (read.kind !== 'ok') return { path, lease: null };
    try {
      const lease = JSON.parse(read.text) as Lease;
      return {
        path,
        lease: lease.service === service && typeof lease.pid === 'number' ? lease : null,
      };
    } catch {
      return { path, lease: null };
    }
  });
}

const leaseIndexes = new WeakMap<readonly string[], Map<string, string[]>>();

/**
 * The lease files of `service` among `names` (a listing, never changed once
 * made), indexed by service on the first ask: a `down` of N services asks N
 * times, and matching every name each time was N² (500 services: 40 ms).
 */
function leaseNamesOf(names: readonly string[], service: string): readonly string[] {
  let index = leaseIndexes.get(names);
  if (index === undefined) {
    index = new Map();
    for (const name of names) {
      const owner = LEASE_FILE.exec(name)?.[1];
      if (owner === undefined) continue;
      const list = index.get(owner);
      if (list === undefined) index.set(owner, [name]);
      else list.push(name);
    }
    leaseIndexes.set(names, index);
  }
  return index.get(service) ?? [];
}

/** Program names of a launcher: the CLI and the hosts of `launch()` run on Node.js. */
const LAUNCHER_PROGRAMS = new Set(['node', 'nodejs', basename(process.execPath)]);

/** True if the lease's holder is alive, the process it names, and a launcher. */
function heldByLauncher(lease: Lease, inspector: ProcessInspector): boolean {
  if (lease.pid <= 1 || verifyIdentity(lease, inspector).kind !== 'ours') return false;
  const argv = inspector.cmdline(lease.pid);
  if (argv === null || argv.length === 0) return false;
  return (
    LAUNCHER_PROGRAMS.has(basename(argv[0] as string)) || argv.some((a) => /launchguard/.test(a))
  );
}

/** Options of {@link liveLeases}. */
export interface LeaseQuery {
  /** This stack's id: another stack's leases are neither counted nor removed. */
  readonly stack: string;
  readonly except?: LeaseHolder;
  /** False: nothing is removed (`status` only reads). @default true */
  readonly clean?: boolean;
  /**
   * The state folder's files, from a listing begun after the caller took the
   * service's lock (see {@link StateListing}); without it, the folder is listed.
   */
  readonly names?: readonly string[];
}

/**
 * The live leases of this stack on `service` (their holders verified alive
 * and launchers), without `except`'s own. Leases of dead holders and
 * unreadable lease files are removed on the way (unless `clean` is false).
 * Callers that change anything hold the service's lock.
 */
export function liveLeases(
  pidDir: string,
  service: string,
  inspector: ProcessInspector,
  query: LeaseQuery,
): Lease[] {
  const live: Lease[] = [];
  for (const { path, lease } of leaseFiles(pidDir, service, query.names)) {
    if (lease !== null && lease.stack !== undefined && lease.stack !== query.stack) continue;
    // Only this user writes leases (the state folder is checked), so a holder that
    // cannot be verified is one from another boot: gone.
    if (lease === null || !heldByLauncher(lease, inspector)) {
      if (query.clean !== false) unlinkQuiet(path);
    } else if (lease.holder !== query.except?.nonce) live.push(lease);
  }
  return live;
}

/**
 * Ends every lease of this stack on `service` (for `down`, under the
 * service's lock); returns the PIDs of holders that were alive. `names`: the
 * state folder's files from a listing begun after that lock was taken (see
 * {@link StateListing}); without it, the folder is listed here. `unasked`:
 * holders the caller does not report (itself, the keeper), whose leases are
 * ended without a look at the process (`down` of 20: 40 /proc reads fewer).
 */
export function endLeases(
  pidDir: string,
  service: string,
  inspector: ProcessInspector,
  stack: string,
  names?: readonly string[],
  unasked: ReadonlySet<number> = new Set(),
): number[] {
  const holders: number[] = [];
  for (const { path, lease } of leaseFiles(pidDir, service, names)) {
    if (lease !== null && lease.stack !== undefined && lease.stack !== stack) continue;
    if (lease !== null && !unasked.has(lease.pid) && heldByLauncher(lease, inspector))
      holders.push(lease.pid);
    unlinkQuiet(path);
  }
  return [...new Set(holders)];
}
