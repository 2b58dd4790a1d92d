import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { systemInspector } from '../../lib/os/inspector.js';
import { stackId } from '../../lib/state/marker.js';

const inspector = systemInspector();

/**
 * Plants a record (and PID file) naming `pid` as the running, ready `service`,
 * as another launcher or an attacker could have written it. The start time is
 * the process's real one (so the record verifies) unless `fields` says
 * otherwise; any field can be forged. The state folder is created 0700.
 */
export function plantRecord(
  config: ResolvedConfig,
  service: string,
  pid: number,
  fields: Record<string, unknown> = {},
): void {
  const looked = inspector.lookup(pid);
  const info = looked.kind === 'alive' ? looked.info : null;
  const stack = stackId(config.name, config.file);
  const record = {
    version: 1,
    service,
    stack,
    pid,
    pgid: info?.pgid ?? pid,
    startTime: info?.startTime ?? '1',
    bootId: inspector.bootId(),
    pidNamespace: inspector.pidNamespace(),
    command: ['node', 'x'],
    cwd: config.root,
    ports: '',
    configHash: 'planted',
    instance: `${stack}/${service}/abcdef123456`,
    startedAt: new Date().toISOString(),
    readyAt: new Date().toISOString(),
    launcherPid: 999999,
    logFile: join(config.pidDir, `${service}.log`),
    ...fields,
  };
  mkdirSync(config.pidDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(config.pidDir, `${service}.json`), JSON.stringify(record));
  writeFileSync(join(config.pidDir, `${service}.pid`), `${pid}\n`);
}

/**
 * A start time earlier than `startTime`, in the same backend's form (clock
 * ticks, or `lstart:` of the ps backend): what a record of an earlier process
 * with the same PID would hold.
 */
export function earlierStartTime(startTime: string): string {
  return startTime.startsWith('lstart:')
    ? 'lstart:Sat Jan 1 00:00:00 2000'
    : String(Math.max(0, Number(startTime) - 1));
}
