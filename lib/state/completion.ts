import { join } from 'node:path';
import { stateError } from '../errors.js';
import type { ExitInfo } from '../exit.js';
import { readFileSafe, unlinkQuiet, writeFileAtomic } from './files.js';

/**
 * How a one-shot task (a service others wait on with `'completed'`) last
 * ended, kept in `<service>.done` beside the records: `status` shows it
 * (`completed`, or `failed` with its code), and a start does not run a task
 * again while it completed with the same config and its dependents still
 * run. `down` removes it, so a fresh start runs every task again.
 */
export interface Completion extends ExitInfo {
  readonly version: 1;
  readonly service: string;
  /** The stack id: another stack's file is not this stack's. */
  readonly stack: string;
  /** The task's config hash: a changed task runs again. */
  readonly configHash: string;
  /** ISO time it ended. */
  readonly at: string;
}

function donePath(pidDir: string, service: string): string {
  return join(pidDir, `${service}.done`);
}

/** Remembers how the task ended. Throws E_STATE if the disk refuses. */
export function writeCompletion(pidDir: string, completion: Completion): void {
  const path = donePath(pidDir, completion.service);
  try {
    writeFileAtomic(path, `${JSON.stringify(completion)}\n`);
  } catch (error) {
    throw stateError(path, 'cannot write the task result', error, completion.service);
  }
}

/** How the task last ended for this stack, or null (none, unreadable, another stack's). */
export function readCompletion(pidDir: string, service: string, stack: string): Completion | null {
  const read = readFileSafe(donePath(pidDir, service));
  if (read.kind !== 'ok') return null;
  try {
    const value = JSON.parse(read.text) as Partial<Completion>;
    const valid =
      value.version === 1 &&
      value.service === service &&
      value.stack === stack &&
      typeof value.configHash === 'string' &&
      typeof value.at === 'string';
    return valid ? (value as Completion) : null;
  } catch {
    return null;
  }
}

/** Forgets how the task ended (`down`); true if there was something to forget. */
export function removeCompletion(pidDir: string, service: string, stack: string): boolean {
  if (readCompletion(pidDir, service, stack) === null) return false;
  unlinkQuiet(donePath(pidDir, service));
  return true;
}
