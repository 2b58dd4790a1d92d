import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { asStateError, isLaunchError, LaunchError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { colorEnabled, createColors } from '../report/color.js';
import { formatPlan } from '../report/plan.js';
import { assertSettings } from '../settings.js';
import { type ParsedArgs, parseCommandLine } from './args.js';
import { type CliIO, commandContext } from './context.js';

export type { CliIO } from './context.js';

import { phase } from '../phase.js';
import { commandHelp, mainHelp } from './help.js';
import { guardOutput } from './output.js';

/** The package version, read once from package.json. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function print(stream: NodeJS.WritableStream, lines: string | readonly string[]): void {
  stream.write(`${typeof lines === 'string' ? lines : lines.join('\n')}\n`);
}

/** Prints an error as the user should see it: message, details, hint; stack only with --debug. */
export function reportError(error: unknown, io: CliIO, debug: boolean): number {
  const c = createColors(colorEnabled(io.stderr.isTTY === true, io.env));
  if (isLaunchError(error)) {
    const lines = [
      `${c.red(c.bold('error:'))} ${error.message}`,
      ...error.details.map((d) => `  ${d}`),
    ];
    if (error.hint !== undefined) lines.push(`${c.dim('hint:')} ${error.hint}`);
    if (debug)
      lines.push(
        '',
        ...String(error.stack)
          .split('\n')
          .filter((l) => l.startsWith('    at ')),
        ...(error.cause ? [`cause: ${String((error.cause as Error).stack ?? error.cause)}`] : []),
      );
    print(io.stderr, lines);
    return error.exitCode;
  }
  // A disk that refuses a write (full, read-only) is the user's to fix, not a bug.
  const refused = asStateError(error);
  if (refused !== null) return reportError(refused, io, debug);
  const message = error instanceof Error ? error.message : String(error);
  const lines = [`${c.red(c.bold('internal error:'))} ${message}`];
  lines.push(
    debug
      ? String((error as Error).stack)
      : `${c.dim('hint:')} this is a bug in launchguard; rerun with --debug and report the output`,
  );
  print(io.stderr, lines);
  return 1;
}

async function dispatch(args: ParsedArgs, io: CliIO): Promise<number> {
  const { command, values } = args;
  if (values.version === true) {
    print(io.stdout, version());
    return 0;
  }
  if (command === undefined) {
    // A bare `launchguard` is a usage error: help goes to stderr, exit 2.
    const asked = values.help === true;
    print(asked ? io.stdout : io.stderr, mainHelp(version()));
    return asked ? 0 : 2;
  }
  if (values.help === true) {
    print(io.stdout, commandHelp(command));
    return 0;
  }
  assertSettings(io.env); // help and version work whatever the environment says
  const ctx = commandContext(args, io);
  switch (command.name) {
    case 'validate':
      ctx.print(formatPlan(await ctx.load(), ctx.out));
      return 0;
    // Each command loads only its own modules: `--version` and `validate` stay fast.
    case 'up':
      return values.detach === true
        ? (await import('./cmd-detached.js')).upDetached(ctx, values.replace === true)
        : (await import('./cmd-foreground.js')).upForeground(ctx);
    case 'restart':
      return (await import('./cmd-detached.js')).upDetached(ctx, true);
    case 'down':
      return (await import('./cmd-down.js')).down(ctx);
    case 'keeper':
      return (await import('./cmd-keeper.js')).keeper(ctx);
    case 'status':
      return (await import('./cmd-status.js')).status(ctx);
    case 'run':
      return (await import('./cmd-run.js')).run(ctx);
    case 'logs':
      return (await import('./cmd-logs.js')).logs(ctx);
    case 'wait':
      return (await import('./cmd-wait.js')).wait(ctx);
    case 'export':
      return (await import('./cmd-export.js')).exportStack(ctx);
    default:
      throw new LaunchError('E_USAGE', `unknown command '${command.name}'`);
  }
}

/**
 * Runs the CLI with the given arguments and returns the exit code. Never
 * throws: every failure is printed as a clear message (with a stack trace only
 * under --debug) and mapped to its documented exit code.
 */
export async function runCli(argv: readonly string[], raw: CliIO): Promise<number> {
  phase('modules');
  const debug = argv.includes('--debug');
  const { io, closed } = guardOutput(raw);
  const guarded = { ...io, outputClosed: closed };
  try {
    return await dispatch(parseCommandLine(argv), guarded);
  } catch (error) {
    return reportError(error, guarded, debug);
  }
}
