import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { LaunchError } from '../errors.js';
import { configTimeoutSetting } from '../settings.js';
import { importConfigModule } from './import.js';
import { resolveConfig } from './resolve.js';
import type { FileRole } from './trust.js';
import { readTrustedFile } from './trusted-file.js';
import type { ConfigEnv, ResolvedConfig } from './types.js';

/** Config file names, in the order they are looked for in each folder. */
const CONFIG_NAMES = [
  'launch.config.ts',
  'launch.config.mts',
  'launch.config.js',
  'launch.config.mjs',
] as const;

/**
 * Finds the config file: `explicit` if given (relative to `cwd`), else the
 * first of {@link CONFIG_NAMES} in `cwd` or its nearest ancestor. The path
 * returned is the real one (symlinks resolved): the stack's identity, its
 * state folder and its relative paths are the same through every path that
 * reaches the project.
 */
export function findConfigFile(cwd: string, explicit?: string): string {
  return realpathSync(locateConfigFile(cwd, explicit).file);
}

function locateConfigFile(
  cwd: string,
  explicit?: string,
): { readonly file: string; readonly source: Exclude<FileRole, 'env'> } {
  if (explicit !== undefined) {
    const file = resolve(cwd, explicit);
    if (!existsSync(file)) {
      throw new LaunchError('E_CONFIG', `config file ${file} not found`, {
        hint: 'check the path given to -c/--config',
      });
    }
    if (!statSync(file).isFile()) {
      throw new LaunchError('E_CONFIG', `config path ${file} is not a file`, {
        hint: 'give -c/--config the path of a launch.config.ts file',
      });
    }
    return { file, source: 'named' };
  }
  const here = resolve(cwd);
  for (let dir = here; ; dir = dirname(dir)) {
    for (const name of CONFIG_NAMES) {
      const file = join(dir, name);
      if (existsSync(file)) return { file, source: dir === here ? 'here' : 'above' };
    }
    if (dirname(dir) === dir) break;
  }
  throw new LaunchError(
    'E_CONFIG',
    `no launch.config.ts (or .mts, .js, .mjs) in ${cwd} or any parent folder`,
    {
      hint: "create one (see the README's quick start) or pass -c/--config FILE",
    },
  );
}

/** `file:line:col` of the first stack frame inside `file`, if any. */
function frameIn(file: string, stack: string): string | undefined {
  for (const line of stack.split('\n')) {
    const at = line.indexOf(file);
    if (at >= 0) {
      const m = /^:(\d+):(\d+)/.exec(line.slice(at + file.length));
      if (m) return `${file}:${m[1]}:${m[2]}`;
    }
  }
  return undefined;
}

/** The source line at `line` (1-based) and a caret under `col`, for syntax errors. */
function excerpt(source: string, line: number, col: number): string[] {
  const text = source.split(/\r?\n/)[line - 1];
  if (text === undefined) return [];
  return [
    `${line} | ${text}`,
    `${' '.repeat(String(line).length)} | ${' '.repeat(Math.max(0, col - 1))}^`,
  ];
}

/** Turns whatever loading a config threw into one clear {@link LaunchError}. */
function loadError(file: string, error: unknown, source: string): LaunchError {
  const message = error instanceof Error ? error.message : String(error);
  const parse = /^(?:ParseError|SyntaxError): ([^\n]*?)\s*\n\s*(\S+):(\d+):(\d+)/.exec(message);
  if (parse) {
    const [, what, where, line, col] = parse as unknown as [string, string, string, string, string];
    return new LaunchError('E_CONFIG', `${where}:${line}:${col}: syntax error: ${what.trim()}`, {
      details: excerpt(where === file ? source : readSafe(where), Number(line), Number(col)),
      hint: 'fix the syntax error, then run `launchguard validate`',
      cause: error,
    });
  }
  const missing = /^Cannot find (?:module|package) '([^']+)'/.exec(message);
  if (missing) {
    const name = missing[1] ?? '';
    const lines = source.split(/\r?\n/);
    const at = lines.findIndex((l) => l.includes(`'${name}'`) || l.includes(`"${name}"`));
    const where = at >= 0 ? `${file}:${at + 1}` : file;
    return new LaunchError(
      'E_CONFIG',
      `${where}: cannot load the config: module '${name}' not found`,
      {
        hint: /^[./]/.test(name)
          ? 'fix the import path'
          : `install it (npm install ${name}) or fix the import path`,
        cause: error,
      },
    );
  }
  const where = (error instanceof Error && error.stack && frameIn(file, error.stack)) || file;
  const first = message.split('\n')[0] ?? message;
  return new LaunchError('E_CONFIG', `${where}: the config threw: ${first}`, {
    hint: 'fix the error in the config file; run with --debug for the stack trace',
    cause: error,
  });
}

function readSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Folder to search from. @default process.cwd() */
  cwd?: string;
  /** An explicit config file, relative to `cwd`. */
  config?: string;
  /** The command being run, passed to a config function. @default 'api' */
  command?: string;
  /**
   * Longest time the config may take to load (its module, and its function or
   * promise if it exports one), in ms.
   * @default the LAUNCHGUARD_CONFIG_TIMEOUT environment variable, else 10000
   */
  timeout?: number;
}

/** Settles like `work`, or rejects with `onTimeout()` after `ms` (the timer keeps the process alive). */
function within<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/**
 * Finds, loads, validates and resolves the config. Every failure is a
 * {@link LaunchError} with code `E_CONFIG`: missing file, syntax or import
 * error (with file and line), or the list of validation problems.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  const cwd = options.cwd ?? process.cwd();
  const found = locateConfigFile(cwd, options.config);
  // Judged where it was found, read once; exactly these bytes are evaluated.
  const { real: file, text } = readTrustedFile(found.file, found.source, cwd);
  const ms = options.timeout ?? configTimeoutSetting();
  const evaluate = async (): Promise<unknown> => {
    // A default export may be the config, a promise of it, or a function returning either.
    const exported = await importConfigModule(file, text);
    if (typeof exported !== 'function') return exported;
    const env: ConfigEnv = { command: options.command ?? 'api', cwd };
    return (exported as (env: ConfigEnv) => unknown)(env);
  };
  const slow = () =>
    new LaunchError('E_CONFIG', `${file}: the config did not finish loading within ${ms} ms`, {
      hint: 'its default export (or the promise or function behind it) never settled; if it really needs longer, raise LAUNCHGUARD_CONFIG_TIMEOUT (ms)',
    });
  let exported: unknown;
  try {
    exported = await within(evaluate(), ms, slow);
  } catch (error) {
    throw error instanceof LaunchError ? error : loadError(file, error, text);
  }
  return resolveConfig(exported, file);
}
