import { platformSpawn } from '../process/platform-spawn.js';
import type { Attempt } from './tcp.js';

/**
 * Runs a check command once; ready when it exits 0 within `timeout`. The
 * command runs in a process group of its own (never the launcher's), carries
 * the service's environment (so its instance marker: a launcher killed
 * mid-check leaves nothing the next `up`/`down` cannot find), and its whole
 * group is SIGKILLed at the deadline, so `sh -c 'sleep 777'` cannot outlive
 * the readiness wait.
 */
export function execAttempt(
  argv: readonly string[],
  shell: boolean,
  options: { cwd: string; env: NodeJS.ProcessEnv; timeout: number; signal?: AbortSignal },
): Promise<Attempt> {
  const [program, ...args] = argv as [string, ...string[]];
  const shown = argv.join(' ');
  return new Promise((resolve) => {
    const child = platformSpawn()(program, args, {
      cwd: options.cwd,
      env: options.env,
      shell,
      stdio: 'ignore',
      detached: process.platform !== 'win32',
      windowsHide: true,
    });
    const killGroup = () => {
      // Called before 'exit' only: our child, not yet reaped, so its PID and group are still ours.
      try {
        if (child.pid !== undefined && process.platform !== 'win32')
          process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
    };
    const settle = (result: Attempt) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const cut = (why: string) => {
      killGroup();
      settle({ ok: false, error: `'${shown}' ${why}` });
    };
    const timer = setTimeout(
      () => cut(`did not finish within ${options.timeout} ms`),
      options.timeout,
    );
    const onAbort = () => cut('was cut short');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (error: NodeJS.ErrnoException) =>
      settle({ ok: false, error: `'${shown}' cannot run: ${error.code ?? error.message}` }),
    );
    child.once('exit', (code, signal) => {
      settle(
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
