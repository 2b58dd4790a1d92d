import { signalExitCode } from '../exit.js';
import { platformSpawn } from '../process/platform-spawn.js';
import { locateProgram } from '../process/resolve-command.js';

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Aborted with a signal name as its reason: pass that signal on to the command. */
  readonly stop: AbortSignal;
  /** Aborted: SIGKILL the command. */
  readonly force: AbortSignal;
  /**
   * The command shares the launcher's terminal. The terminal delivers Ctrl-C to
   * its whole foreground group, so the command stays in the launcher's group
   * (a process group of its own could not read the terminal) and SIGINT is
   * not passed on a second time.
   */
  readonly interactive: boolean;
  /** Where to say that the command cannot run. */
  readonly log: (text: string) => void;
}

/** Why `run`'s command cannot run, with the exit code a shell would give, or null if it can. */
export interface CommandProblem {
  /** 127: not found; 126: found but not executable. */
  readonly code: 127 | 126;
  readonly message: string;
  readonly hint: string;
}

/**
 * Checks `run`'s command before anything is started: a command that cannot
 * run should not cost a stack start. A single word with spaces or shell
 * operators (`run "npm test && x"`) gets the `sh -c` hint.
 */
export function commandProblem(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): CommandProblem | null {
  const program = argv[0] ?? '';
  const found = locateProgram(program, cwd, env);
  if (found.kind === 'ok') return null;
  const shellLine = argv.length === 1 && /[\s&|;<>()$`]/.test(program);
  const hint = shellLine
    ? `to run a shell command line, ask for a shell: launchguard run -- sh -c '${program.replaceAll("'", "'\\''")}'`
    : found.kind === 'missing'
      ? 'check the spelling, install it, or give its path (./node_modules/.bin/...); npx scripts: run -- npx <tool>'
      : `make it executable (chmod +x ${found.path ?? program})`;
  return found.kind === 'missing'
    ? { code: 127, message: `cannot run '${program}': command not found`, hint }
    : { code: 126, message: `cannot run '${program}': ${found.path} is not executable`, hint };
}

/**
 * Runs `run`'s command in the foreground with the launcher's stdio and
 * resolves to its exit code: its own, 128+n if a signal killed it, 127 if it
 * cannot run. Without a terminal (CI, a script) the command gets a process
 * group of its own, and a stop signal (SIGINT, SIGTERM, SIGHUP) or the force
 * (SIGKILL) goes to that whole group, so `sh -c 'sleep 300 & wait'` leaves
 * no `sleep` behind.
 */
export function runCommand(argv: readonly string[], options: RunCommandOptions): Promise<number> {
  const [program, ...args] = argv as [string, ...string[]];
  const ownGroup = !options.interactive && process.platform !== 'win32';
  return new Promise((resolve) => {
    const child = platformSpawn()(program, args, {
      stdio: 'inherit',
      env: options.env,
      cwd: options.cwd,
      detached: ownGroup,
    });
    let exited = false;
    const send = (signal: NodeJS.Signals) => {
      // Only before 'exit': our child, not yet reaped, so its PID and group are still ours.
      if (exited || child.pid === undefined) return;
      try {
        if (ownGroup) process.kill(-child.pid, signal);
        else child.kill(signal);
      } catch {
        // already gone
      }
    };
    const relay = () => {
      const sig = String(options.stop.reason) as NodeJS.Signals;
      if (sig !== 'SIGINT' || !options.interactive) send(sig);
    };
    const force = () => send('SIGKILL');
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
      resolve(code ?? signalExitCode(signal ?? 'SIGKILL'));
    });
  });
}
