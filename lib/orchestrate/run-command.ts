import { platformSpawn } from '../process/platform-spawn.js';

/** Signal numbers for 128+n exit codes. */
const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGKILL: 9,
  SIGTERM: 15,
};

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Aborted with a signal name as its reason: relay that signal to the command. */
  readonly stop: AbortSignal;
  /** Aborted: SIGKILL the command. */
  readonly force: AbortSignal;
  /**
   * The command shares the launcher's terminal, which delivers Ctrl-C to the
   * whole foreground group: SIGINT is not relayed a second time.
   */
  readonly interactive: boolean;
  /** Where to say that the command cannot run. */
  readonly log: (text: string) => void;
}

/**
 * Runs `run`'s command in the foreground with the launcher's stdio, relays
 * stop signals to it, and resolves to its exit code (127 if it cannot run).
 */
export function runCommand(argv: readonly string[], options: RunCommandOptions): Promise<number> {
  const [program, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    const child = platformSpawn()(program, args, {
      stdio: 'inherit',
      env: options.env,
      cwd: options.cwd,
    });
    let exited = false;
    const relay = () => {
      const sig = String(options.stop.reason) as NodeJS.Signals;
      // The child is ours and not yet reaped: its PID cannot have been reused.
      if (!exited && (sig !== 'SIGINT' || !options.interactive)) child.kill(sig);
    };
    const force = () => {
      if (!exited) child.kill('SIGKILL');
    };
    options.stop.addEventListener('abort', relay, { once: true });
    options.force.addEventListener('abort', force, { once: true });
    child.once('error', (error: NodeJS.ErrnoException) => {
      exited = true;
      options.log(`error: cannot run '${argv.join(' ')}': ${error.code ?? error.message}`);
      resolve(127);
    });
    child.once('exit', (code, signal) => {
      exited = true;
      options.stop.removeEventListener('abort', relay);
      options.force.removeEventListener('abort', force);
      resolve(code ?? 128 + (SIGNAL_NUMBERS[signal ?? ''] ?? 1));
    });
  });
}
