import type { ChildProcess } from 'node:child_process';
import { loadConfig } from '../config/load.js';
import type { ResolvedConfig } from '../config/types.js';
import { phase } from '../phase.js';
import { type Colors, colorEnabled, createColors } from '../report/color.js';
import { Progress } from '../report/progress.js';
import { heartbeatSetting } from '../settings.js';
import type { ParsedArgs } from './args.js';

/** Where the CLI writes and what it reads of its process; tests pass their own. */
export interface CliIO {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Where SIGINT/SIGTERM/SIGHUP arrive. @default process */
  readonly signals?: NodeJS.EventEmitter;
  /** Aborted (reason `SIGHUP`) when the reader of stdout or stderr went away. */
  readonly outputClosed?: AbortSignal;
  /**
   * The stack's keeper, spawned by `bin/launchguard.js` before the code loaded
   * (`up -d`, `restart`), waiting for its request on its IPC channel.
   */
  readonly keeper?: ChildProcess;
}

/** What a command implementation gets. */
export interface CommandContext {
  readonly args: ParsedArgs;
  readonly io: CliIO;
  /** Colours for stdout and stderr. */
  readonly out: Colors;
  readonly err: Colors;
  /** Loads and resolves the config (with `-c` if given). */
  load(): Promise<ResolvedConfig>;
  /** Writes lines to stdout. */
  print(lines: string | readonly string[]): void;
  /**
   * Start progress on stdout or stderr: a live line on a TTY, plain lines and
   * a heartbeat every `LAUNCHGUARD_HEARTBEAT` ms (default 10 s) elsewhere.
   */
  progress(to: 'stdout' | 'stderr'): Progress;
}

/** Builds the context of a command. */
export function commandContext(args: ParsedArgs, io: CliIO): CommandContext {
  const config = args.values.config;
  return {
    args,
    io,
    out: createColors(colorEnabled(io.stdout.isTTY === true, io.env)),
    err: createColors(colorEnabled(io.stderr.isTTY === true, io.env)),
    load: async () => {
      const loaded = await loadConfig({
        cwd: io.cwd,
        command: args.command?.name ?? '',
        ...(typeof config === 'string' ? { config } : {}),
      });
      phase('config');
      return loaded;
    },
    print: (lines) => {
      io.stdout.write(`${typeof lines === 'string' ? lines : lines.join('\n')}\n`);
    },
    progress(to) {
      const stream = io[to];
      return new Progress(
        stream,
        to === 'stdout' ? this.out : this.err,
        stream.isTTY === true,
        heartbeatSetting(io.env),
      );
    },
  };
}
