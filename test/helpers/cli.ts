import { BIN } from './paths.js';
import { type Ran, runProcess } from './run.js';

/** What a CLI run produced. */
export type CliResult = Ran;

/** Runs the built CLI as a real subprocess, like a user would; kills it (by PID) after `timeout`. */
export function runCli(
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number },
): Promise<CliResult> {
  return runProcess([process.execPath, BIN, ...args], options);
}

/** True when output looks like a JavaScript stack trace. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+(\(|:\d+:\d+)/m.test(text);
}

/**
 * True if a run died at its fault point (`LAUNCHGUARD_FAULT`): the CLI itself
 * (killed by SIGKILL), or for `up -d` the keeper doing the start for it (the
 * CLI then says the keeper ended by SIGKILL before it reported).
 */
export function diedAtFault(result: CliResult): boolean {
  return (
    result.signal === 'SIGKILL' ||
    /the keeper of stack .* ended \(SIGKILL\) before it reported/.test(result.stderr)
  );
}
