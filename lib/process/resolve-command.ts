import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { errnoCode, LaunchError } from '../errors.js';

/**
 * Checks, before spawning, what Node would otherwise report confusingly (a
 * missing cwd comes back as `spawn <cmd> ENOENT`): that the cwd is a folder,
 * and that the program exists and is executable. Throws E_SPAWN naming the
 * real culprit. Windows is left to cross-spawn (PATHEXT rules).
 */
export function assertSpawnable(
  service: string,
  program: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
): void {
  let cwdIsDir = false;
  try {
    cwdIsDir = statSync(cwd).isDirectory();
  } catch (error) {
    throw new LaunchError(
      'E_SPAWN',
      `${service}: working directory ${cwd} does not exist (${errnoCode(error) ?? 'error'})`,
      {
        service,
        hint: `create it, or fix services.${service}.cwd (relative to the config file)`,
      },
    );
  }
  if (!cwdIsDir) {
    throw new LaunchError('E_SPAWN', `${service}: working directory ${cwd} is not a folder`, {
      service,
      hint: `fix services.${service}.cwd`,
    });
  }
  if (process.platform === 'win32') return;
  if (program.includes('/')) {
    const path = isAbsolute(program) ? program : resolve(cwd, program);
    assertExecutable(service, program, path);
    return;
  }
  const dirs = (env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const dir of dirs) {
    const path = join(isAbsolute(dir) ? dir : resolve(cwd, dir), program);
    try {
      if (statSync(path).isFile()) {
        assertExecutable(service, program, path);
        return;
      }
    } catch {
      // not in this folder
    }
  }
  throw new LaunchError('E_SPAWN', `${service}: command '${program}' not found in PATH`, {
    service,
    details: [`PATH=${env.PATH ?? ''}`],
    hint: `install it, give a path (./bin/${program}), or fix services.${service}.command`,
  });
}

function assertExecutable(service: string, program: string, path: string): void {
  try {
    if (!statSync(path).isFile()) {
      throw new LaunchError('E_SPAWN', `${service}: command ${program} (${path}) is not a file`, {
        service,
        hint: `fix services.${service}.command`,
      });
    }
    accessSync(path, constants.X_OK);
  } catch (error) {
    if (error instanceof LaunchError) throw error;
    const code = errnoCode(error);
    if (code === 'ENOENT') {
      throw new LaunchError(
        'E_SPAWN',
        `${service}: command ${program} not found (looked at ${path})`,
        {
          service,
          hint: `fix services.${service}.command; relative paths start at the service's cwd`,
        },
      );
    }
    throw new LaunchError(
      'E_SPAWN',
      `${service}: command ${path} is not executable (${code ?? 'error'})`,
      {
        service,
        hint: `make it executable (chmod +x ${path}) or run it through its interpreter (node ${program})`,
      },
    );
  }
}

/**
 * Where `program` would be found (a path, or a name looked up in `env.PATH`
 * relative to `cwd`), and whether it can run: `missing`, `not-executable`, or
 * `ok`. On Windows every program counts as `ok` (cross-spawn's PATHEXT rules
 * decide at spawn time).
 */
export function locateProgram(
  program: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
): { readonly kind: 'ok' | 'missing' | 'not-executable'; readonly path?: string } {
  if (process.platform === 'win32') return { kind: 'ok' };
  const candidates = program.includes('/')
    ? [isAbsolute(program) ? program : resolve(cwd, program)]
    : (env.PATH ?? '')
        .split(delimiter)
        .filter((d) => d !== '')
        .map((dir) => join(isAbsolute(dir) ? dir : resolve(cwd, dir), program));
  for (const path of candidates) {
    try {
      if (!statSync(path).isFile()) continue;
    } catch {
      continue;
    }
    try {
      accessSync(path, constants.X_OK);
      return { kind: 'ok', path };
    } catch {
      return { kind: 'not-executable', path };
    }
  }
  return { kind: 'missing' };
}
