import {
  Collector,
  type ConfigIssue,
  collectCommand,
  collectDuration,
  collectEnum,
  collectEnv,
  collectEnvFile,
  collectHealth,
  collectPortNumber,
  collectReady,
  collectWatch,
  describe,
  isPlainObject,
  join,
} from './checks.js';
import { findCycles } from './graph.js';
import { didYouMean } from './suggest.js';

export type { ConfigIssue } from './checks.js';

export const TOP_KEYS = ['services', 'pidDir', 'name', 'env', 'envFile', 'logs'] as const;
export const SERVICE_KEYS = [
  'command',
  'shell',
  'cwd',
  'env',
  'envFile',
  'port',
  'ready',
  'readyTimeout',
  'stopTimeout',
  'stopSignal',
  'dependsOn',
  'restart',
  'maxRestarts',
  'minUptime',
  'health',
  'watch',
  'pidFile',
  'image',
  'rerun',
] as const;
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
const CONDITIONS = ['started', 'ready', 'completed'];
const RESTART = ['no', 'on-failure', 'always'];
const RERUN = ['always', 'on-change'];
/** Names that are safe as file names on every OS and in a marker. */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function collectDependsOn(
  c: Collector,
  path: string,
  value: unknown,
  names: readonly string[],
): undefined {
  if (value === undefined) return;
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : isPlainObject(value)
      ? Object.keys(value).map((k) => [k, k])
      : [];
  if (!Array.isArray(value) && !isPlainObject(value)) {
    return c.add(
      path,
      `expected a list of service names or a map of conditions, received ${describe(value)}`,
    );
  }
  for (const [key, dep] of entries) {
    const p = join(path, key);
    if (typeof dep !== 'string') {
      c.add(p, `expected a service name, received ${describe(dep)}`);
    } else if (!names.includes(dep)) {
      c.add(p, `unknown service '${dep}'${didYouMean(dep, names)} (known: ${names.join(', ')})`);
    }
    if (isPlainObject(value) && typeof key === 'string') {
      const cond = value[key];
      if (typeof cond !== 'string' || !CONDITIONS.includes(cond)) {
        c.add(p, `expected one of ${CONDITIONS.join(', ')}, received ${describe(cond)}`);
      }
    }
  }
}

function collectService(
  c: Collector,
  name: string,
  value: unknown,
  names: readonly string[],
): undefined {
  const path = join('services', name);
  if (!SERVICE_NAME.test(name) || name === '.' || name === '..') {
    c.add(
      path,
      `service name '${name}' is not safe as a file name: use letters, digits, '.', '_', '-', starting with a letter or digit`,
    );
  }
  if (!isPlainObject(value)) {
    return c.add(
      path,
      `expected a service object such as { command: 'node server.js' }, received ${describe(value)}`,
    );
  }
  c.unknownKeys(value, path, SERVICE_KEYS);
  if (value.shell !== undefined && typeof value.shell !== 'boolean') {
    c.add(join(path, 'shell'), `expected true or false, received ${describe(value.shell)}`);
  }
  collectCommand(c, join(path, 'command'), value.command, value.shell === true);
  if (value.cwd !== undefined && (typeof value.cwd !== 'string' || value.cwd === '')) {
    c.add(join(path, 'cwd'), `expected a folder path, received ${describe(value.cwd)}`);
  }
  collectEnv(c, join(path, 'env'), value.env);
  collectEnvFile(c, join(path, 'envFile'), value.envFile);
  if (value.port !== undefined && value.port !== 'auto')
    collectPortNumber(c, join(path, 'port'), value.port);
  collectReady(c, join(path, 'ready'), value.ready, value.port);
  collectHealth(c, join(path, 'health'), value.health, value.port);
  collectWatch(c, join(path, 'watch'), value.watch);
  collectDuration(c, join(path, 'readyTimeout'), value.readyTimeout);
  collectDuration(c, join(path, 'stopTimeout'), value.stopTimeout);
  collectDuration(c, join(path, 'minUptime'), value.minUptime);
  collectEnum(c, join(path, 'stopSignal'), value.stopSignal, STOP_SIGNALS);
  collectDependsOn(c, join(path, 'dependsOn'), value.dependsOn, names);
  collectEnum(c, join(path, 'restart'), value.restart, RESTART);
  collectEnum(c, join(path, 'rerun'), value.rerun, RERUN);
  if (value.image !== undefined && (typeof value.image !== 'string' || value.image.trim() === ''))
    c.add(
      join(path, 'image'),
      `expected an image name such as 'postgres:16', received ${describe(value.image)}`,
    );
  if (value.pidFile !== undefined && (typeof value.pidFile !== 'string' || value.pidFile === ''))
    c.add(join(path, 'pidFile'), `expected a file path, received ${describe(value.pidFile)}`);
  const max = value.maxRestarts;
  if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 0)) {
    c.add(join(path, 'maxRestarts'), `expected a whole number >= 0, received ${describe(max)}`);
  }
}

function collectLogs(c: Collector, value: unknown): undefined {
  if (value === undefined) return;
  if (!isPlainObject(value))
    return c.add('logs', `expected { maxSize?, keep? }, received ${describe(value)}`);
  c.unknownKeys(value, 'logs', ['maxSize', 'keep']);
  const { maxSize, keep } = value;
  if (
    maxSize !== undefined &&
    (typeof maxSize !== 'number' || !Number.isInteger(maxSize) || maxSize < 1024)
  )
    c.add(
      'logs.maxSize',
      `expected a whole number of bytes, at least 1024, received ${describe(maxSize)}`,
    );
  if (
    keep !== undefined &&
    (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 0 || keep > 100)
  )
    c.add('logs.keep', `expected a whole number 0-100, received ${describe(keep)}`);
}

function dependencyNames(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (isPlainObject(value)) return Object.keys(value);
  return [];
}

function collectAcrossServices(c: Collector, services: Record<string, unknown>): undefined {
  const lower = new Map<string, string>();
  for (const name of Object.keys(services)) {
    const other = lower.get(name.toLowerCase());
    if (other !== undefined) {
      c.add(
        join('services', name),
        `name differs from '${other}' only in case; the two collide on case-insensitive disks`,
      );
    }
    lower.set(name.toLowerCase(), name);
  }
  const ports = new Map<number, string>();
  for (const [name, svc] of Object.entries(services)) {
    if (!isPlainObject(svc) || typeof svc.port !== 'number') continue;
    const other = ports.get(svc.port);
    if (other !== undefined) {
      c.add(
        join(join('services', name), 'port'),
        `port ${svc.port} is also used by service '${other}'`,
      );
    } else ports.set(svc.port, name);
  }
  const graph: Record<string, string[]> = {};
  for (const [name, svc] of Object.entries(services)) {
    graph[name] = isPlainObject(svc) ? dependencyNames(svc.dependsOn) : [];
  }
  collectRerun(c, services);
  for (const cycle of findCycles(graph)) {
    c.add(
      join(join('services', cycle[0] ?? ''), 'dependsOn'),
      `dependency cycle: ${cycle.join(' -> ')}`,
    );
  }
}

/** `rerun` says when a one-shot task runs: on a service nothing waits to complete, it says nothing. */
function collectRerun(c: Collector, services: Record<string, unknown>): void {
  const tasks = new Set<string>();
  for (const svc of Object.values(services))
    if (isPlainObject(svc) && isPlainObject(svc.dependsOn))
      for (const [dep, cond] of Object.entries(svc.dependsOn))
        if (cond === 'completed') tasks.add(dep);
  for (const [name, svc] of Object.entries(services))
    if (isPlainObject(svc) && svc.rerun !== undefined && !tasks.has(name))
      c.add(
        join(join('services', name), 'rerun'),
        `'${name}' is not a one-shot task: no service waits for it with dependsOn: { ${name}: 'completed' }`,
      );
}

/**
 * Checks a config value (what `launch.config.ts` exported, after calling it
 * if it is a function) and returns every problem found, each with its key
 * path. An empty list means the config is valid.
 */
export function validateConfig(config: unknown): ConfigIssue[] {
  const c = new Collector();
  if (!isPlainObject(config)) {
    c.add(
      '',
      `expected the default export to be a config object such as { services: { ... } }, received ${describe(config)}`,
    );
    return c.issues;
  }
  c.unknownKeys(config, '', TOP_KEYS);
  if (config.pidDir !== undefined && (typeof config.pidDir !== 'string' || config.pidDir === '')) {
    c.add('pidDir', `expected a folder path, received ${describe(config.pidDir)}`);
  }
  if (
    config.name !== undefined &&
    (typeof config.name !== 'string' || !SERVICE_NAME.test(config.name))
  ) {
    c.add(
      'name',
      `expected a name of letters, digits, '.', '_', '-', received ${describe(config.name)}`,
    );
  }
  collectEnv(c, 'env', config.env);
  collectEnvFile(c, 'envFile', config.envFile);
  collectLogs(c, config.logs);
  const services = config.services;
  if (services === undefined) {
    c.add('services', 'missing: a config needs at least one service');
  } else if (!isPlainObject(services)) {
    c.add('services', `expected an object of services, received ${describe(services)}`);
  } else if (Object.keys(services).length === 0) {
    c.add('services', 'empty: a config needs at least one service');
  } else {
    const names = Object.keys(services);
    for (const name of names) collectService(c, name, services[name], names);
    collectAcrossServices(c, services);
  }
  return c.issues;
}
