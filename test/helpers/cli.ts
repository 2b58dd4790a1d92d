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
