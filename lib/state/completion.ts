import { join } from 'node:path';
import { stateError } from '../errors.js';
import type { ExitInfo } from '../exit.js';
import { readFileSafe, unlinkQuiet, writeFileAtomic } from './files.js';

/**
 * How a service or one-shot task last ended, kept in `<service>.exit`
 * beside the records. For a task (a service others wait on with
 * `'completed'`), `status` shows it as `completed` or `failed`, and a start
 * does not run a task again while it completed with the same config and its
 * dependents still run. For a service, `status` shows it as `lastExit` (a
 * supervisor writes it when the service exits). `down` removes it: a fresh
 * start runs every task again.
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
  /** ISO time the task's run began (tasks; absent in files of older versions). */
  readonly startedAt?: string;
}

function donePath(pidDir: string, service: string): string {
  return join(pidDir, `${service}.exit`);
}

/** Remembers how it ended. Throws E_STATE if the disk refuses. */
export function writeCompletion(pidDir: string, completion: Completion): void {
  const path = donePath(pidDir, completion.service);
  try {
    writeFileAtomic(path, `${JSON.stringify(completion)}\n`);
  } catch (error) {
    throw stateError(path, 'cannot write how it ended', error, completion.service);
  }
}

/** How it last ended for this stack, or null (none, unreadable, another stack's). */
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

/** Forgets how it ended (`down`); true if there was something to forget. */
export function removeCompletion(pidDir: string, service: string, stack: string): boolean {
  if (readCompletion(pidDir, service, stack) === null) return false;
  unlinkQuiet(donePath(pidDir, service));
  return true;
}
