import { join } from 'node:path';

/** Files of one service in the state folder. */
export interface ServicePaths {
  readonly pid: string;
  readonly record: string;
  readonly lock: string;
  readonly log: string;
}

/** Paths of a service's PID file, record, lock and log. */
export function servicePaths(pidDir: string, service: string): ServicePaths {
  return {
    pid: join(pidDir, `${service}.pid`),
    record: join(pidDir, `${service}.json`),
    lock: join(pidDir, `${service}.lock`),
    log: join(pidDir, `${service}.log`),
  };
}
