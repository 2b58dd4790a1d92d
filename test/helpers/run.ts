import { type ChildProcess, spawn } from 'node:child_process';
import { track } from './procs.js';

/** How a process the tests started ended, and what it printed. */
export interface Ran {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  readonly out: string;
}

/** A process the tests started and still watch. */
export interface Started {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** stdout and stderr interleaved as they arrived. */
  readonly output: () => string;
  /** Settles when it has ended and its output is closed. */
  readonly ended: Promise<Ran>;
}

/** Options of {@link startProcess}. */
export interface StartOptions {
  readonly cwd?: string;
  /** Added to the test runner's environment (with NO_COLOR=1). */
  readonly env?: NodeJS.ProcessEnv;
  /** In a process group of its own (a shell pipeline the test signals as a whole). */
  readonly detached?: boolean;
  /** SIGKILL it (by PID) after this many ms. @default 20000 */
  readonly timeout?: number;
}

/**
 * Starts `argv` as a real child process, tracked for cleanup by PID, with its
 * output collected: the one spawn helper of the tests (the CLI, node hosts,
 * shell pipelines).
 */
export function startProcess(argv: readonly string[], options: StartOptions = {}): Started {
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd: options.cwd,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached === true,
  });
  if (child.pid !== undefined) track(child.pid);
  let stdout = '';
  let stderr = '';
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d;
    out += d;
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d;
    out += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 20_000);
  const ended = new Promise<Ran>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, out });
    };
    child.on('error', (error) => {
      stderr += String(error);
      finish(null, null);
    });
    child.on('close', finish);
  });
  return { child, stdout: () => stdout, stderr: () => stderr, output: () => out, ended };
}

/** Runs `argv` to its end (see {@link startProcess}). */
export function runProcess(argv: readonly string[], options: StartOptions = {}): Promise<Ran> {
  return startProcess(argv, options).ended;
}
