import { isLaunchError, LaunchError } from '../errors.js';
import { signalExitCode } from '../exit.js';
import { formatDown, formatSummary } from '../report/views.js';
import { commandProblem, runCommand } from '../session/run-command.js';
import { openSession, type Session } from '../session/session.js';
import type { CommandContext } from './context.js';
import { onStopSignals } from './shutdown.js';

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
  const problem = commandProblem(argv, ctx.io.env, ctx.io.cwd);
  if (problem !== null) {
    // The shell's codes (127, 126), and nothing started for a command that cannot run.
    ctx.io.stderr.write(
      `${ctx.err.red(ctx.err.bold('error:'))} ${problem.message}; no service was started\n${ctx.err.dim('hint:')} ${problem.hint}\n`,
    );
    return problem.code;
  }
  const only = ctx.args.values.service;
  const services = Array.isArray(only) ? only.map(String) : [];
  const stop = onStopSignals(ctx.io.signals, ctx.io.outputClosed);
  const log = (text: string) => ctx.io.stderr.write(`${text}\n`);
  const progress = ctx.progress('stderr');
  const started = Date.now();
  try {
    let session: Session;
    try {
      session = await openSession(config, {
        services,
        rerunTasks: true,
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
        return signalExitCode(sig);
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
    log(formatSummary(config, session.up, Date.now() - started, ctx.err));
    const code = await runCommand(argv, {
      env: { ...ctx.io.env, ...session.up.env },
      cwd: ctx.io.cwd,
      stop: stop.graceful,
      force: stop.force,
      interactive: process.stdin.isTTY === true,
      log,
    });
    // Give the services back: each is stopped unless another user still holds it.
    const down = await session.release({ hurry: stop.force });
    const lines = formatDown(down, ctx.err);
    if (lines.length > 0) log(lines.join('\n'));
    return code;
  } finally {
    progress.done();
    stop.dispose();
  }
}
