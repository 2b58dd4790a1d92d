import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, fstatSync, writeSync } from 'node:fs';
import type { ResolvedService } from '../config/types.js';
import { errnoCode, LaunchError } from '../errors.js';
import type { ExitInfo } from '../exit.js';
import { openLogForAppend, rotateLog, rotateRunningLog } from '../state/logfile.js';
import { LogClock } from '../state/logtimes.js';
import { adoptChild } from './children.js';
import { serviceEnv } from './env.js';
import { platformSpawn, type SpawnFn } from './platform-spawn.js';
import { assertSpawnable } from './resolve-command.js';

/** Options of {@link spawnService}. */
export interface SpawnServiceOptions {
  /** The instance marker for this start (see `newInstanceMarker`). */
  readonly marker: string;
  /** Resolved ports by service name (`PORT` and `<NAME>_PORT`). */
  readonly ports: Readonly<Record<string, number>>;
  /** Append the service's stdout and stderr here. */
  readonly logFile: string;
  /**
   * Rotate the log first when it has grown this large (see `rotateLog`); with
   * `tee`, also while the service runs (this launcher writes its log then).
   */
  readonly logRotation?: { readonly maxSize: number; readonly keep: number };
  /**
   * Foreground use: also hand every output chunk to this function. Without it
   * the service writes straight to its log file and never depends on the
   * launcher's stdio (no EPIPE or SIGHUP when the launcher exits).
   */
  readonly tee?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** The launcher's environment, below the config's. @default process.env */
  readonly baseEnv?: NodeJS.ProcessEnv;
  /** The spawn function (a seam for tests). @default cross-spawn on Windows, node's spawn elsewhere */
  readonly spawn?: SpawnFn;
}

/** A spawned service. */
export interface SpawnedService {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The service leads its own process group: its pgid is its pid. */
  readonly pgid: number;
  readonly marker: string;
  readonly logFile: string;
  /** Size of the log when this instance started: its output begins here. */
  readonly logOffset: number;
  /** Set when something else sat at the log's path and was moved aside. */
  readonly logNote?: string;
  /** Settles when the service's main process exits. */
  readonly exit: Promise<ExitInfo>;
}

/**
 * Spawns a service in its own process group (`detached`), without a shell
 * unless `shell: true`, with the config's cwd and env plus the ports and the
 * instance marker, and its output in a log file. Throws E_SPAWN naming the
 * real culprit: a missing cwd, a command not in PATH, a file that is not
 * executable.
 */
export async function spawnService(
  svc: ResolvedService,
  options: SpawnServiceOptions,
): Promise<SpawnedService> {
  const env = serviceEnv(svc, options.ports, options.marker, options.baseEnv);
  const [program, ...args] = svc.argv as [string, ...string[]];
  assertSpawnable(
    svc.name,
    svc.shell ? (process.platform === 'win32' ? 'cmd.exe' : '/bin/sh') : program,
    svc.cwd,
    env,
  );
  if (options.logRotation)
    rotateLog(options.logFile, options.logRotation.maxSize, options.logRotation.keep);
  const log = openLogForAppend(options.logFile, svc.name);
  let logFd = log.fd;
  let logOffset = fstatSync(logFd).size;
  const spawn = options.spawn ?? platformSpawn();
  const tee = options.tee;
  let child: ChildProcess;
  try {
    child = spawn(program, args, {
      cwd: svc.cwd,
      env,
      detached: true,
      shell: svc.shell,
      windowsHide: true,
      stdio: tee ? ['ignore', 'pipe', 'pipe'] : ['ignore', logFd, logFd],
    });
    // Every instance's output starts with its own line (written before the new
    // process can say anything: it is still being exec'd). Its output begins after it.
    if (child.pid !== undefined) {
      try {
        writeSync(logFd, `--- started ${new Date().toISOString()} pid ${child.pid} ---\n`);
        logOffset = fstatSync(logFd).size;
        const headerFd = logFd;
        new LogClock(options.logFile, () => fstatSync(headerFd).size).note();
      } catch {
        // a full disk: the service still starts, its output still goes to the log
      }
    }
    const exit = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    adoptChild(child);
    const spawned = once(child, 'spawn');
    const failed = once(child, 'error').then(([error]) => {
      throw error;
    });
    await Promise.race([spawned, failed]);
    failed.catch(() => undefined);
    if (tee) {
      const fd = logFd;
      logFd = -1;
      const write = teeWriter(fd, options);
      const copy = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
        write.chunk(chunk);
        tee(chunk, stream);
      };
      child.stdout?.on('data', copy('stdout'));
      child.stderr?.on('data', copy('stderr'));
      // 'close' comes after the last output chunk; closing at 'exit' could let a late
      // chunk hit a reused descriptor number.
      child.once('close', () => {
        write.close();
        closeSync(fd);
      });
    } else {
      child.unref();
    }
    const pid = child.pid as number;
    return {
      child,
      pid,
      pgid: pid,
      marker: options.marker,
      logFile: options.logFile,
      logOffset,
      ...(log.note === undefined ? {} : { logNote: log.note }),
      exit,
    };
  } catch (error) {
    throw new LaunchError(
      'E_SPAWN',
      `${svc.name}: cannot start '${svc.commandText}' (${errnoCode(error) ?? String(error)})`,
      {
        service: svc.name,
        hint: `check services.${svc.name}.command and cwd`,
        cause: error,
      },
    );
  } finally {
    if (logFd >= 0) closeSync(logFd);
  }
}

/**
 * The foreground launcher's writing of a service's log: each chunk appended,
 * its time noted (`logs --timestamps`), and the log rotated in place as soon
 * as it reaches `logRotation.maxSize`. This launcher is the only writer, so
 * the copy-then-truncate loses nothing.
 */
function teeWriter(
  fd: number,
  options: SpawnServiceOptions,
): { chunk: (data: Buffer) => void; close: () => void } {
  const clock = new LogClock(options.logFile, () => fstatSync(fd).size);
  const rotation = options.logRotation;
  return {
    chunk: (data) => {
      try {
        writeSync(fd, data);
        clock.seen();
        if (rotation !== undefined && fstatSync(fd).size >= rotation.maxSize) {
          clock.note();
          rotateRunningLog(options.logFile, rotation.maxSize, rotation.keep);
        }
      } catch {
        // a full disk must not stop the service's output from reaching the terminal
      }
    },
    close: () => clock.close(),
  };
}
