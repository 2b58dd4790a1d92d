import { linkSync, renameSync } from 'node:fs';
import { delay } from '../delay.js';
import { abortedError, errnoCode, LaunchError, stateError, UNWRITABLE } from '../errors.js';
import { type ProcessIdentity, selfIdentity, verifyIdentity } from '../os/identity.js';
import type { ProcessInspector } from '../os/inspector.js';
import { readFileSafe, unlinkQuiet, writeTempFile } from './files.js';
import { randomHex } from './random.js';

/**
 * A per-service lock file that any number of launchers (terminals, CI steps,
 * a systemd unit) can contend for.
 *
 * - Acquire: write our owner identity to a temp file, then `link()` it to the
 *   lock path: atomic, and fails with EEXIST if a lock exists. The lock file is
 *   never seen half-written.
 * - A lock whose owner is dead (judged by PID + start time + boot id, never by
 *   age or clock) is taken over by exactly one contender: first it must win a
 *   *claim* on that owner's generation, `<lock>.<owner nonce>.claim`, with the
 *   same link protocol; the winner re-reads the lock, and only if it still
 *   names the dead owner replaces it with an atomic `rename()`. A claim whose
 *   own owner died is taken over the same way.
 * - Release: only if the lock still names us.
 * No descriptor stays open, so nothing can leak into a service.
 */

/** Who holds a lock. */
interface LockOwner extends ProcessIdentity {
  readonly nonce: string;
  readonly service: string;
  readonly acquiredAt: string;
}

/** A held lock. */
export interface LockHandle {
  readonly path: string;
  readonly owner: LockOwner;
  /**
   * True if the lock was free at the first try: no other launcher held it
   * (alive or crashed) between the call and the acquisition.
   */
  readonly fresh: boolean;
  /**
   * When the lock was taken, in `performance.now()` time: what was written
   * under it before is on disk by then (see `StateListing`).
   */
  readonly takenAt: number;
  /** True while the lock file still names us. */
  isHeld(): boolean;
  /** Releases the lock if it still names us; safe to call twice. */
  release(): void;
  /** Set when the caller goes ahead without the lock (see {@link LockOptions.unwritable}): why. */
  readonly unlocked?: string;
}

/** Options of {@link acquireLock}. */
export interface LockOptions {
  readonly inspector: ProcessInspector;
  /** How long to wait for a live owner, in ms. @default 15000 */
  readonly timeout?: number;
  readonly signal?: AbortSignal;
  /**
   * What to do when the lock cannot be written because the disk refuses
   * (ENOSPC, EDQUOT, EROFS): `'throw'` an E_STATE error, or `'proceed'`
   * without the lock (`down`: a full disk must never keep a service running;
   * the handle's `unlocked` says why). @default 'throw'
   */
  readonly unwritable?: 'throw' | 'proceed';
}

type Attempt = { kind: 'acquired'; fresh: boolean } | { kind: 'busy'; owner: LockOwner | null };

function parseOwner(text: string): LockOwner | null {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (
      typeof value.pid === 'number' &&
      typeof value.nonce === 'string' &&
      typeof value.startTime === 'string'
    ) {
      return value as LockOwner;
    }
  } catch {
    // corrupt: handled by the caller
  }
  return null;
}

function readOwner(
  path: string,
): { kind: 'missing' } | { kind: 'owner'; owner: LockOwner | null; key: string } {
  const read = readFileSafe(path, { links: true }); // two names for an instant: see link() below
  if (read.kind === 'missing') return { kind: 'missing' };
  if (read.kind === 'invalid')
    return { kind: 'owner', owner: null, key: `invalid-${read.reason.length}` };
  const owner = parseOwner(read.text);
  const key = owner?.nonce ?? `corrupt-${Buffer.from(read.text).toString('hex').slice(0, 16)}`;
  return { kind: 'owner', owner, key };
}

/** Whether a lock owner is certainly gone (so its lock may be taken over). */
function ownerIsGone(owner: LockOwner | null, inspector: ProcessInspector, seen: Seen): boolean {
  if (owner === null) return true; // we always write whole owners; garbage is nobody's lock
  // An owner verified alive before (same nonce) is still that process while its PID lives:
  // a PID cannot be reused within one wait. kill(pid, 0) is cheap; a full identity check
  // (a `ps` per call on the portable backend) is not, with many launchers waiting.
  if (seen.has(owner.nonce) && inspector.exists(owner.pid)) return false;
  const verdict = verifyIdentity(owner, inspector);
  if (verdict.kind === 'ours') seen.add(owner.nonce);
  if (verdict.kind === 'gone' || verdict.kind === 'reused') return true;
  return verdict.kind === 'unverifiable' && verdict.reason === 'recorded in another boot';
}

/** True while another live launcher holds the lock at `path` (it is starting or stopping). */
export function lockHeld(path: string, inspector: ProcessInspector): boolean {
  const current = readOwner(path);
  return current.kind === 'owner' && !ownerIsGone(current.owner, inspector, new Set());
}

/** Nonces of lock owners verified alive during one acquisition. */
type Seen = Set<string>;

/** One non-blocking attempt on `path`, taking over a dead owner's lock if needed. */
function attempt(
  path: string,
  text: string,
  nonce: string,
  inspector: ProcessInspector,
  seen: Seen,
): Attempt {
  for (let round = 0; round < 8; round++) {
    // A lock only matters while its owner lives; after a crash or a reboot its owner
    // is judged dead by identity (and boot id), whatever the file holds.
    const temp = writeTempFile(path, text);
    try {
      linkSync(temp, path);
      return { kind: 'acquired', fresh: round === 0 };
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
    } finally {
      unlinkQuiet(temp);
    }
    const current = readOwner(path);
    if (current.kind === 'missing') continue; // released meanwhile: try again
    if (current.owner?.nonce === nonce) return { kind: 'acquired', fresh: false };
    if (!ownerIsGone(current.owner, inspector, seen)) return { kind: 'busy', owner: current.owner };
    // Dead owner: win the claim on its generation, then replace the lock.
    const claim = `${path}.${current.key}.claim`;
    const claimed = attempt(claim, text, nonce, inspector, seen);
    if (claimed.kind === 'busy') return { kind: 'busy', owner: claimed.owner ?? current.owner };
    try {
      const again = readOwner(path);
      if (again.kind === 'owner' && again.key === current.key) {
        const replacement = writeTempFile(path, text);
        renameSync(replacement, path);
        return { kind: 'acquired', fresh: false };
      }
    } finally {
      releaseIfOurs(claim, nonce);
    }
  }
  return { kind: 'busy', owner: null };
}

function releaseIfOurs(path: string, nonce: string): void {
  const current = readOwner(path);
  if (current.kind === 'owner' && current.owner?.nonce === nonce) unlinkQuiet(path);
}

/**
 * When the lock file cannot be written: a handle without the lock if the disk
 * refuses and the caller goes ahead anyway (see {@link LockOptions.unwritable}),
 * else an E_STATE error.
 */
function unlockedOr(
  path: string,
  owner: LockOwner,
  error: unknown,
  options: LockOptions,
): LockHandle {
  const code = errnoCode(error);
  if (options.unwritable !== 'proceed' || code === undefined || !UNWRITABLE.has(code))
    throw stateError(path, 'cannot take the lock', error, owner.service);
  return {
    path,
    owner,
    fresh: false,
    takenAt: performance.now(),
    isHeld: () => true,
    release: () => undefined,
    unlocked: `cannot write its lock ${path} (${code})`,
  };
}

/**
 * Acquires the lock at `path` for `service`, waiting (bounded by `timeout`)
 * while another live launcher holds it. Throws E_BUSY naming the holder when
 * the wait runs out, E_ABORTED when `signal` aborts.
 */
export async function acquireLock(
  path: string,
  service: string,
  options: LockOptions,
): Promise<LockHandle> {
  const { inspector } = options;
  const me = selfIdentity(inspector);
  const owner: LockOwner = {
    pid: process.pid,
    startTime: me?.startTime ?? '',
    bootId: me?.bootId ?? null,
    pidNamespace: me?.pidNamespace ?? null,
    nonce: randomHex(8),
    service,
    acquiredAt: new Date().toISOString(),
  };
  const text = `${JSON.stringify(owner)}\n`;
  const deadline = Date.now() + (options.timeout ?? 15_000);
  let pause = 2;
  const seen: Seen = new Set();
  for (let tries = 0; ; tries++) {
    let result: Attempt;
    try {
      result = attempt(path, text, owner.nonce, inspector, seen);
    } catch (error) {
      return unlockedOr(path, owner, error, options);
    }
    if (result.kind === 'acquired') {
      return {
        path,
        owner,
        fresh: result.fresh && tries === 0,
        takenAt: performance.now(),
        isHeld: () => {
          const current = readOwner(path);
          return current.kind === 'owner' && current.owner?.nonce === owner.nonce;
        },
        release: () => releaseIfOurs(path, owner.nonce),
      };
    }
    if (options.signal?.aborted) {
      throw abortedError(`${service}: aborted while waiting for the lock`, options.signal, service);
    }
    if (Date.now() >= deadline) {
      const who =
        result.owner === null
          ? 'another launchguard'
          : `another launchguard (pid ${result.owner.pid})`;
      throw new LaunchError('E_BUSY', `busy: ${who} is starting or stopping ${service}`, {
        service,
        hint: `wait for it to finish and retry; if that launcher hangs, stop it (the lock is ${path})`,
      });
    }
    await delay(pause, options.signal);
    pause = Math.min(pause * 2, 50);
  }
}
