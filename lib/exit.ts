import { constants } from 'node:os';

/** How a process ended: its exit code, or the signal that killed it. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** `exited with code 3` or `was killed by SIGSEGV`. */
export function describeExit(exit: ExitInfo): string {
  if (exit.signal !== null) return `was killed by ${exit.signal}`;
  // A daemon is not our child: its code is unknown.
  return exit.code === null ? 'exited' : `exited with code ${exit.code}`;
}

/** True unless the process exited with code 0. */
export function failedExit(exit: ExitInfo): boolean {
  return exit.code !== 0 || exit.signal !== null;
}

/** The exit code a shell reports for a process killed by `signal`: 128 + its number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
