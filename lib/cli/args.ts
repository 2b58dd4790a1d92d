import { type ParseArgsConfig, parseArgs } from 'node:util';
import { didYouMean } from '../config/suggest.js';
import { errnoCode, LaunchError } from '../errors.js';
import { COMMANDS, type CommandSpec, findCommand, GLOBAL_OPTIONS } from './commands.js';

/** A parsed command line. */
export interface ParsedArgs {
  /** The command, or undefined when none was given (e.g. `launchguard --version`). */
  readonly command: CommandSpec | undefined;
  readonly values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
  readonly positionals: readonly string[];
}

function parseOptions(spec: Record<string, object>): NonNullable<ParseArgsConfig['options']> {
  // parseArgs rejects unknown fields, so keep only the ones it knows.
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, s] of Object.entries(spec)) {
    const { type, short, multiple } = s as {
      type: 'string' | 'boolean';
      short?: string;
      multiple?: boolean;
    };
    options[name] = {
      type,
      ...(short === undefined ? {} : { short }),
      ...(multiple ? { multiple } : {}),
    };
  }
  return options;
}

function usageError(
  error: unknown,
  known: readonly string[],
  command: string | undefined,
): LaunchError {
  const message = error instanceof Error ? error.message : String(error);
  const where = command === undefined ? 'launchguard' : `launchguard ${command}`;
  const help = `run '${where} --help' for the options`;
  const unknown = /Unknown option '(-{1,2})([^']+)'/.exec(message);
  if (unknown) {
    const [, dashes, name] = unknown as unknown as [string, string, string];
    const suggestion =
      dashes === '--' ? didYouMean(name, known).replace(/'([^']+)'/, "'--$1'") : '';
    return new LaunchError('E_USAGE', `unknown option '${dashes}${name}'${suggestion}`, {
      hint: help,
    });
  }
  if (errnoCode(error) === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return new LaunchError('E_USAGE', message.split('\n')[0] ?? message, { hint: help });
  }
  if (errnoCode(error) === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return new LaunchError('E_USAGE', `${where} takes no arguments`, { hint: help });
  }
  return new LaunchError('E_USAGE', message.split('\n')[0] ?? message, { hint: help });
}

/** Words people type from other tools, and the command they mean. */
const COMMAND_ALIASES: Readonly<Record<string, string>> = {
  start: 'up',
  stop: 'down',
  kill: 'down',
  ps: 'status',
  ls: 'status',
  list: 'status',
  log: 'logs',
  check: 'validate',
};

/**
 * Parses the command line: `[global options] <command> [options] [args]`.
 * Unknown commands and options are {@link LaunchError}s with code `E_USAGE`
 * and a "did you mean" suggestion.
 */
export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  const globals = parseOptions(GLOBAL_OPTIONS);
  // First pass: find the command word, skipping global options and their values.
  const { tokens } = parseArgs({
    args: [...argv],
    options: globals,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const first = tokens.find((t) => t.kind === 'positional' || t.kind === 'option-terminator');
  const name = first?.kind === 'positional' ? first.value : undefined;
  const command = name === undefined ? undefined : findCommand(name);
  if (name !== undefined && command === undefined) {
    const alias = COMMAND_ALIASES[name];
    throw new LaunchError(
      'E_USAGE',
      `unknown command '${name}'${
        alias === undefined
          ? didYouMean(
              name,
              COMMANDS.map((c) => c.name),
            )
          : ` (did you mean '${alias}'?)`
      }`,
      {
        hint: "run 'launchguard --help' for the commands",
      },
    );
  }
  let rest = first?.kind === 'positional' ? argv.filter((_, i) => i !== first.index) : [...argv];
  const options = { ...globals, ...(command ? parseOptions(command.options) : {}) };
  // `run`: options end at the first word of the command (or at `--`), so the
  // command's own options (`node -e ...`, `npm test --watch`) stay its own.
  let tail: string[] = [];
  if (command?.name === 'run') {
    const { tokens: runTokens } = parseArgs({
      args: rest,
      options,
      strict: false,
      allowPositionals: true,
      tokens: true,
    });
    const start = runTokens.find((t) => t.kind === 'positional' || t.kind === 'option-terminator');
    if (start !== undefined) {
      tail = rest.slice(start.index + (start.kind === 'option-terminator' ? 1 : 0));
      rest = rest.slice(0, start.index);
    }
  }
  try {
    const parsed = parseArgs({
      args: rest,
      options,
      strict: true,
      allowPositionals: command?.positionals ?? false,
    });
    return { command, values: parsed.values, positionals: [...parsed.positionals, ...tail] };
  } catch (error) {
    throw usageError(error, Object.keys(options), command?.name);
  }
}
