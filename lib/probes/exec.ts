import { platformSpawn } from '../process/platform-spawn.js';
import type { Attempt } from './tcp.js';

/** Runs a check command once; ready when it exits 0 within `timeout`. */
export function execAttempt(
  argv: readonly string[],
  shell: boolean,
  options: { cwd: string; env: NodeJS.ProcessEnv; timeout: number },
): Promise<Attempt> {
  const [program, ...args] = argv as [string, ...string[]];
  const shown = argv.join(' ');
  return new Promise((resolve) => {
    const child = platformSpawn()(program, args, {
      cwd: options.cwd,
      env: options.env,
      shell,
      stdio: 'ignore',
      windowsHide: true,
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // our own child, not yet reaped: its PID is still ours
      resolve({ ok: false, error: `'${shown}' did not finish within ${options.timeout} ms` });
    }, options.timeout);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, error: `'${shown}' cannot run: ${error.code ?? error.message}` });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(
        code === 0
          ? { ok: true }
          : {
              ok: false,
              error: `'${shown}' exited with ${code === null ? signal : `code ${code}`}`,
            },
      );
    });
  });
}
