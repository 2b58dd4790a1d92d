import { join } from 'node:path';
import { type ProcessIdentity, verifyIdentity } from '../os/identity.js';
import type { ProcessInspector } from '../os/inspector.js';
import { readFileSafe, unlinkQuiet, writeFileAtomic } from './files.js';

/**
 * The keeper of a detached stack (see `session/keeper.ts`), recorded in
 * `.keeper.json` in the state folder (a leading dot: no service can be named
 * so). Trusted only after its identity is verified, like any record.
 */
export interface KeeperRecord extends ProcessIdentity {
  readonly version: 1;
  /** The stack id. */
  readonly stack: string;
  /** ISO time it started. */
  readonly startedAt: string;
}

/** The keeper's record file. */
function keeperFile(pidDir: string): string {
  return join(pidDir, '.keeper.json');
}

/** The keeper's own log (what it did: restarts, checks). */
export function keeperLog(pidDir: string): string {
  return join(pidDir, '.keeper.log');
}

/** Records this process as the stack's keeper. */
export function writeKeeper(pidDir: string, record: KeeperRecord): void {
  writeFileAtomic(keeperFile(pidDir), `${JSON.stringify(record)}\n`);
}

/** The stack's keeper if it is alive (identity verified), else null. */
export function liveKeeper(
  pidDir: string,
  stack: string,
  inspector: ProcessInspector,
): KeeperRecord | null {
  const read = readFileSafe(keeperFile(pidDir));
  if (read.kind !== 'ok') return null;
  try {
    const record = JSON.parse(read.text) as KeeperRecord;
    if (record.version !== 1 || record.stack !== stack || typeof record.pid !== 'number')
      return null;
    return verifyIdentity(record, inspector).kind === 'ours' ? record : null;
  } catch {
    return null;
  }
}

/** Removes the keeper's record if it still names `pid` (a newer keeper's is left alone). */
export function removeKeeper(pidDir: string, pid: number): void {
  const read = readFileSafe(keeperFile(pidDir));
  if (read.kind !== 'ok') return;
  try {
    if ((JSON.parse(read.text) as KeeperRecord).pid === pid) unlinkQuiet(keeperFile(pidDir));
  } catch {
    unlinkQuiet(keeperFile(pidDir));
  }
}
