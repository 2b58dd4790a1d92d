import { findCycles } from './graph.js';
import { splitCommand } from './split.js';
import { didYouMean } from './suggest.js';

/** One problem in a config, with the key path it was found at. */
export interface ConfigIssue {
  /** Key path such as `services.api.dependsOn[0]`. */
  readonly path: string;
  /** What is wrong: expected vs received. */
  readonly message: string;
}

export const TOP_KEYS = ['services', 'pidDir', 'name', 'env', 'envFile'] as const;
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
] as const;
const PROBE_KINDS = ['tcp', 'http', 'log', 'exec'] as const;
const PROBE_KEYS: Record<(typeof PROBE_KINDS)[number], readonly string[]> = {
  tcp: ['tcp', 'interval'],
  http: ['http', 'status', 'interval'],
  log: ['log', 'interval'],
  exec: ['exec', 'interval'],
};
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
const CONDITIONS = ['started', 'ready', 'completed'];
const RESTART = ['no', 'on-failure', 'always'];
const MAX_TIMER = 2_147_483_647;
/** Names that are safe as file names on every OS and in a marker. */
export const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** A short description of a received value, for messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof RegExp) return `the RegExp ${String(value)}`;
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case 'number':
    case 'boolean':
      return `${typeof value} ${String(value)}`;
    case 'undefined':
      return 'nothing';
    case 'function':
      return 'a function';
    default:
      return 'an object';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Collects issues; every check appends and never stops the walk. */
class Collector {
  readonly issues: ConfigIssue[] = [];
  add(path: string, message: string): undefined {
    this.issues.push({ path, message });
  }
  unknownKeys(obj: Record<string, unknown>, path: string, known: readonly string[]): void {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) {
        this.add(join(path, key), `unknown key${didYouMean(key, known)}`);
      }
    }
  }
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const safe = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
  if (path === '') return safe;
  return safe.startsWith('"') ? `${path}[${safe}]` : `${path}.${safe}`;
}

function checkCommand(c: Collector, path: string, value: unknown, shell: boolean): undefined {
  if (typeof value === 'string') {
    if (value.trim() === '') return c.add(path, 'expected a command, received an empty string');
    if (shell) return;
    const split = splitCommand(value);
    if ('error' in split) {
      c.add(path, `command ${split.error}; set shell: true to run it through a shell`);
    }
  } else if (Array.isArray(value)) {
    if (value.length === 0) return c.add(path, 'expected a non-empty argv array, received []');
    value.forEach((arg, i) => {
      if (typeof arg !== 'string')
        c.add(join(path, i), `expected a string, received ${describe(arg)}`);
      else if (i === 0 && arg.trim() === '')
        c.add(join(path, i), 'expected a program name, received ""');
    });
  } else if (value === undefined) {
    c.add(path, 'missing: every service needs a command');
  } else {
    c.add(path, `expected a string or an argv array, received ${describe(value)}`);
  }
}

function checkEnv(c: Collector, path: string, value: unknown): undefined {
  if (value === undefined) return;
  if (!isPlainObject(value))
    return c.add(path, `expected an object of strings, received ${describe(value)}`);
  for (const [key, v] of Object.entries(value)) {
    if (key === '' || key.includes('=') || key.includes('\0')) {
      c.add(join(path, key), 'not a valid environment variable name');
    } else if (typeof v !== 'string') {
      const hint = typeof v === 'number' || typeof v === 'boolean' ? ` (write '${String(v)}')` : '';
      c.add(join(path, key), `expected a string, received ${describe(v)}${hint}`);
    }
  }
}

function checkEnvFile(c: Collector, path: string, value: unknown): undefined {
  if (value === undefined) return;
  const list = Array.isArray(value) ? value : [value];
  list.forEach((f, i) => {
    if (typeof f !== 'string' || f === '') {
      const p = Array.isArray(value) ? join(path, i) : path;
      c.add(p, `expected a file path, received ${describe(f)}`);
    }
  });
}

function checkDuration(c: Collector, path: string, value: unknown): undefined {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER) {
    c.add(
      path,
      `expected a positive number of milliseconds up to ${MAX_TIMER}, received ${describe(value)}`,
    );
  }
}

function checkPortNumber(c: Collector, path: string, value: unknown): undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    c.add(path, `expected an integer port 1-65535, received ${describe(value)}`);
  }
}

function checkReady(c: Collector, path: string, value: unknown, port: unknown): undefined {
  if (value === undefined) return;
  if (!isPlainObject(value)) {
    return c.add(path, `expected a check such as { http: '/health' }, received ${describe(value)}`);
  }
  const kinds = PROBE_KINDS.filter((k) => k in value);
  if (kinds.length !== 1) {
    const got = kinds.length === 0 ? 'none' : kinds.join(' and ');
    const typo = Object.keys(value).filter((k) => k !== 'interval' && k !== 'status');
    const hint =
      kinds.length === 0 && typo[0] !== undefined ? didYouMean(typo[0], PROBE_KINDS) : '';
    return c.add(path, `expected exactly one of tcp, http, log, exec; received ${got}${hint}`);
  }
  const kind = kinds[0] as (typeof PROBE_KINDS)[number];
  c.unknownKeys(value, path, PROBE_KEYS[kind]);
  checkDuration(c, join(path, 'interval'), value.interval);
  const v = value[kind];
  const p = join(path, kind);
  if (kind === 'tcp') {
    if (v === true) {
      if (port === undefined) c.add(p, 'tcp: true needs the service to have a port');
    } else checkPortNumber(c, p, v);
  } else if (kind === 'http') {
    if (typeof v !== 'string' || v === '') {
      c.add(p, `expected a path such as '/health' or a loopback URL, received ${describe(v)}`);
    } else if (v.startsWith('/')) {
      if (port === undefined)
        c.add(p, `a path needs the service to have a port; or give a full URL`);
    } else {
      checkLoopbackUrl(c, p, v);
    }
    const status = value.status;
    if (status !== undefined) {
      const list = Array.isArray(status) ? status : [status];
      if (list.length === 0) c.add(join(path, 'status'), 'expected at least one status code');
      for (const s of list) {
        if (typeof s !== 'number' || !Number.isInteger(s) || s < 100 || s > 599) {
          c.add(join(path, 'status'), `expected an HTTP status 100-599, received ${describe(s)}`);
        }
      }
    }
  } else if (kind === 'log') {
    if (!(v instanceof RegExp) && (typeof v !== 'string' || v === '')) {
      c.add(p, `expected a string or a RegExp, received ${describe(v)}`);
    }
  } else {
    checkCommand(c, p, v, false);
  }
}

function checkLoopbackUrl(c: Collector, path: string, value: string): undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return c.add(path, `expected a path such as '/health' or a URL, received ${describe(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    c.add(path, `expected an http: or https: URL, received ${describe(value)}`);
  } else if (!LOOPBACK_HOSTS.has(url.hostname) && !url.hostname.startsWith('127.')) {
    c.add(
      path,
      `launchguard only probes loopback hosts (127.0.0.1, localhost, [::1]), received ${url.hostname}`,
    );
  }
}

function checkDependsOn(
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

function checkEnum(
  c: Collector,
  path: string,
  value: unknown,
  allowed: readonly string[],
): undefined {
  if (value === undefined) return;
  if (typeof value !== 'string' || !allowed.includes(value)) {
    const hint = typeof value === 'string' ? didYouMean(value, allowed) : '';
    c.add(path, `expected one of ${allowed.join(', ')}, received ${describe(value)}${hint}`);
  }
}

function checkService(
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
  checkCommand(c, join(path, 'command'), value.command, value.shell === true);
  if (value.cwd !== undefined && (typeof value.cwd !== 'string' || value.cwd === '')) {
    c.add(join(path, 'cwd'), `expected a folder path, received ${describe(value.cwd)}`);
  }
  checkEnv(c, join(path, 'env'), value.env);
  checkEnvFile(c, join(path, 'envFile'), value.envFile);
  if (value.port !== undefined && value.port !== 'auto')
    checkPortNumber(c, join(path, 'port'), value.port);
  checkReady(c, join(path, 'ready'), value.ready, value.port);
  checkDuration(c, join(path, 'readyTimeout'), value.readyTimeout);
  checkDuration(c, join(path, 'stopTimeout'), value.stopTimeout);
  checkEnum(c, join(path, 'stopSignal'), value.stopSignal, STOP_SIGNALS);
  checkDependsOn(c, join(path, 'dependsOn'), value.dependsOn, names);
  checkEnum(c, join(path, 'restart'), value.restart, RESTART);
  const max = value.maxRestarts;
  if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 0)) {
    c.add(join(path, 'maxRestarts'), `expected a whole number >= 0, received ${describe(max)}`);
  }
}

function dependencyNames(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (isPlainObject(value)) return Object.keys(value);
  return [];
}

function checkAcrossServices(c: Collector, services: Record<string, unknown>): undefined {
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
  for (const cycle of findCycles(graph)) {
    c.add(
      join(join('services', cycle[0] ?? ''), 'dependsOn'),
      `dependency cycle: ${cycle.join(' -> ')}`,
    );
  }
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
  checkEnv(c, 'env', config.env);
  checkEnvFile(c, 'envFile', config.envFile);
  const services = config.services;
  if (services === undefined) {
    c.add('services', 'missing: a config needs at least one service');
  } else if (!isPlainObject(services)) {
    c.add('services', `expected an object of services, received ${describe(services)}`);
  } else if (Object.keys(services).length === 0) {
    c.add('services', 'empty: a config needs at least one service');
  } else {
    const names = Object.keys(services);
    for (const name of names) checkService(c, name, services[name], names);
    checkAcrossServices(c, services);
  }
  return c.issues;
}
