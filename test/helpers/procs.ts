import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemInspector } from '../../lib/os/inspector.js';
import { findMarked } from '../../lib/process/sweep.js';
import { inTempDir } from './tmp.js';

const inspector = systemInspector();
const tracked = new Map<number, string>();
const stacks = new Set<string>();

/** Remembers a PID (with its start time) so {@link killTracked} ends it after the test. */
export function track(pid: number): number {
  const looked = inspector.lookup(pid);
  if (looked.kind === 'alive') tracked.set(pid, looked.info.startTime);
  return pid;
}

/** Remembers a stack id: every process carrying its marker is ended after the test. */
export function trackStack(stack: string): void {
  stacks.add(stack);
}

/**
 * True if the PID is alive and not a zombie, as the product's inspector sees it: with the
 * portable backend, from a `ps` snapshot up to 20 ms old, like the product's next question.
 * Checks right after an in-process stop use {@link isAliveNow}.
 */
export function isAlive(pid: number): boolean {
  const looked = inspector.lookup(pid);
  return looked.kind === 'alive' && looked.info.state !== 'Z' && looked.info.state !== 'X';
}

/**
 * True if the PID is alive and not a zombie at this moment, read afresh: the portable
 * backend's snapshot still showed a process that a stop had just seen exit (a killed and
 * reaped `sleep` reads "alive S" there for up to 20 ms).
 */
export function isAliveNow(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const state = stateNow(pid);
  return state !== null && state !== 'Z' && state !== 'X';
}

/** The process state letter (`S`, `R`, `Z`, ...), read now; null if the process is gone. */
function stateNow(pid: number): string | null {
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
    } catch {
      return null;
    }
  }
  const out = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
  const stat = out.stdout?.trim() ?? '';
  return stat === '' ? null : stat.charAt(0);
}

/** Polls `check` every few ms until it returns true or `timeout` passes. */
export async function waitFor(
  check: () => boolean,
  timeout = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Like {@link waitFor}, for an async check. */
export async function waitForAsync(
  check: () => Promise<boolean>,
  timeout = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** PIDs listed one per line in a file (missing file: none). */
export function pidsIn(file: string): number[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** True for a keeper (`LAUNCHGUARD_KEEPER` in its environment) of a project of this test run. */
function isOurKeeper(pid: number): boolean {
  if (inspector.environ(pid, 'LAUNCHGUARD_KEEPER') === null) return false;
  const cwd = inspector.cwd(pid);
  return cwd !== null && inTempDir(cwd);
}

/** SIGKILLs every tracked process still alive with the same start time, and every marked process of tracked stacks. */
export function killTracked(): void {
  for (const [pid, startTime] of tracked) {
    const looked = inspector.lookup(pid);
    if (looked.kind === 'alive' && looked.info.startTime === startTime) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  tracked.clear();
  // Keepers first (those of this run's projects): one would restart the services killed below.
  for (const pid of inspector.listPids().filter(isOurKeeper)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const stack of stacks) {
    for (const p of findMarked({ stack }, inspector)) {
      try {
        process.kill(p.info.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  stacks.clear();
}

/**
 * Extra milliseconds for wall-clock bounds when the suite runs on the portable
 * backend: `ps` and `lsof` can take a second each on a machine saturated by
 * the other test pass running beside it (`scripts/test.mjs`).
 */
export const SLACK_MS = process.env.LAUNCHGUARD_BACKEND === 'portable' ? 5_000 : 0;
