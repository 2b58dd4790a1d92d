import { isLaunchError, LaunchError } from '../errors.js';
import { downStack } from '../orchestrate/down.js';
import { upStack } from '../orchestrate/up.js';
import { portEnv } from '../process/env.js';
import { platformSpawn } from '../process/platform-spawn.js';
import { Progress } from '../report/progress.js';
import { formatDown, formatSummary } from '../report/views.js';
import type { CommandContext } from './context.js';
import { onStopSignals, SIGNAL_EXIT, type StopSignal } from './shutdown.js';

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGKILL: 9,
  SIGTERM: 15,
};

/**
 * `run [-s NAME] [--] command...`: brings up the stack (or the named services),
 * runs the command with every service's `<NAME>_PORT` in its environment,
 * stops what this call started, and exits with the command's exit code. If
 * the stack fails to start, the command never runs (exit 1).
 */
export async function run(ctx: CommandContext): Promise<number> {
  const argv = ctx.args.positionals;
  if (argv.length === 0)
    throw new LaunchError('E_USAGE', "'launchguard run' needs a command to run", {
      hint: 'for example: launchguard run -- npm test',
    });
  const config = await ctx.load();
  const only = ctx.args.values.service;
  const services = Array.isArray(only) ? only.map(String) : [];
  const stop = onStopSignals(ctx.io.signals);
  const log = (text: string) => ctx.io.stderr.write(`${text}\n`);
  const progress = new Progress(ctx.io.stderr, ctx.err, ctx.io.stderr.isTTY === true);
  const started = Date.now();
  try {
    let result: Awaited<ReturnType<typeof upStack>>;
    try {
      result = await upStack(config, {
        services,
        signal: stop.graceful,
        onEvent: (e) => progress.event(e),
      });
    } catch (error) {
      progress.done();
      const sig = stop.first();
      if (sig !== undefined && isLaunchError(error) && error.code === 'E_ABORTED') {
        log(
          `${ctx.err.yellow('!')} interrupted (${sig}) before the stack was up; the command did not run`,
        );
        return SIGNAL_EXIT[sig];
      }
      if (isLaunchError(error))
        throw new LaunchError(error.code, `${error.message}; the command did not run`, {
          ...(error.hint === undefined ? {} : { hint: error.hint }),
          ...(error.service === undefined ? {} : { service: error.service }),
          details: error.details,
          cause: error,
        });
      throw error;
    }
    progress.done();
    log(formatSummary(result, Date.now() - started, ctx.err));
    const mine = result.services.filter((s) => s.outcome === 'started').map((s) => s.name);
    const code = await runCommand(
      argv,
      { ...ctx.io.env, ...portEnv(result.ports) },
      ctx.io.cwd,
      stop,
      log,
    );
    const down = await downStack(config, { services: mine, exact: true, hurry: stop.force });
    const lines = formatDown(down, ctx.err);
    if (lines.length > 0) log(lines.join('\n'));
    return code;
  } finally {
    progress.done();
    stop.dispose();
  }
}

/** Runs the command in the foreground and relays stop signals to it. */
function runCommand(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  stop: ReturnType<typeof onStopSignals>,
  log: (text: string) => void,
): Promise<number> {
  // A terminal's Ctrl-C reaches the whole foreground group, the command included;
  // without a terminal (CI, a kill by PID) the launcher relays it.
  const interactive = process.stdin.isTTY === true;
  const [program, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    const child = platformSpawn()(program, args, { stdio: 'inherit', env, cwd });
    let exited = false;
    const relay = () => {
      const sig = stop.first() as StopSignal;
      // The child is ours and not yet reaped: its PID cannot have been reused.
      if (!exited && (sig !== 'SIGINT' || !interactive)) child.kill(sig);
    };
    const force = () => {
      if (!exited) child.kill('SIGKILL');
    };
    stop.graceful.addEventListener('abort', relay, { once: true });
    stop.force.addEventListener('abort', force, { once: true });
    child.once('error', (error: NodeJS.ErrnoException) => {
      exited = true;
      log(`error: cannot run '${argv.join(' ')}': ${error.code ?? error.message}`);
      resolve(127);
    });
    child.once('exit', (code, signal) => {
      exited = true;
      stop.graceful.removeEventListener('abort', relay);
      stop.force.removeEventListener('abort', force);
      resolve(code ?? 128 + (SIGNAL_NUMBERS[signal ?? ''] ?? 1));
    });
  });
}
