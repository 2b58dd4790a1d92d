import { splitCommand } from './split.js';
import { didYouMean } from './suggest.js';

/** Building blocks of config validation: a collector of issues and checks of single values. */

/** One problem in a config, with the key path it was found at. */
export interface ConfigIssue {
  /** Key path such as `services.api.dependsOn[0]`. */
  readonly path: string;
  /** What is wrong: expected vs received. */
  readonly message: string;
}

const PROBE_KINDS = ['tcp', 'http', 'log', 'exec'] as const;
const PROBE_KEYS: Record<(typeof PROBE_KINDS)[number], readonly string[]> = {
  tcp: ['tcp', 'interval'],
  http: ['http', 'status', 'interval'],
  log: ['log', 'interval'],
  exec: ['exec', 'interval'],
};
const MAX_TIMER = 2_147_483_647;
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

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Collects issues; every check appends and never stops the walk. */
export class Collector {
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

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const safe = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
  if (path === '') return safe;
  return safe.startsWith('"') ? `${path}[${safe}]` : `${path}.${safe}`;
}

export function collectCommand(
  c: Collector,
  path: string,
  value: unknown,
  shell: boolean,
): undefined {
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

export function collectEnv(c: Collector, path: string, value: unknown): undefined {
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

export function collectEnvFile(c: Collector, path: string, value: unknown): undefined {
  if (value === undefined) return;
  const list = Array.isArray(value) ? value : [value];
  list.forEach((f, i) => {
    if (typeof f !== 'string' || f === '') {
      const p = Array.isArray(value) ? join(path, i) : path;
      c.add(p, `expected a file path, received ${describe(f)}`);
    }
  });
}

export function collectDuration(c: Collector, path: string, value: unknown): undefined {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER) {
    c.add(
      path,
      `expected a positive number of milliseconds up to ${MAX_TIMER}, received ${describe(value)}`,
    );
  }
}

export function collectPortNumber(c: Collector, path: string, value: unknown): undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    c.add(path, `expected an integer port 1-65535, received ${describe(value)}`);
  }
}

export function collectReady(c: Collector, path: string, value: unknown, port: unknown): undefined {
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
  const kind = kinds[0] as ProbeKind;
  c.unknownKeys(value, path, PROBE_KEYS[kind]);
  collectDuration(c, join(path, 'interval'), value.interval);
  PROBE_CHECKS[kind](c, path, value, port);
}

/** A liveness check: a tcp, http or exec check, with interval, timeout and failures. */
export function collectHealth(
  c: Collector,
  path: string,
  value: unknown,
  port: unknown,
): undefined {
  if (value === undefined) return;
  if (!isPlainObject(value)) {
    return c.add(path, `expected a check such as { http: '/health' }, received ${describe(value)}`);
  }
  if ('log' in value)
    return c.add(
      join(path, 'log'),
      'a log line cannot tell whether a service is still alive; use tcp, http or exec',
    );
  const { timeout, failures, ...check } = value;
  collectReady(c, path, check, port);
  collectDuration(c, join(path, 'timeout'), timeout);
  if (
    failures !== undefined &&
    (typeof failures !== 'number' || !Number.isInteger(failures) || failures < 1)
  )
    c.add(join(path, 'failures'), `expected a whole number >= 1, received ${describe(failures)}`);
}

const isPathList = (v: unknown) =>
  Array.isArray(v) && v.length > 0 && v.every((p) => typeof p === 'string' && p !== '');

/** Watch mode: a list of paths or globs, or `{ paths, ignore?, debounce? }`. */
export function collectWatch(c: Collector, path: string, value: unknown): undefined {
  if (value === undefined || isPathList(value)) return;
  if (!isPlainObject(value)) {
    return c.add(
      path,
      `expected paths such as ['src'] or { paths: ['src'] }, received ${describe(value)}`,
    );
  }
  c.unknownKeys(value, path, ['paths', 'ignore', 'debounce']);
  if (!isPathList(value.paths))
    c.add(
      join(path, 'paths'),
      `expected a non-empty list of paths, received ${describe(value.paths)}`,
    );
  if (value.ignore !== undefined && !isPathList(value.ignore))
    c.add(join(path, 'ignore'), `expected a list of paths, received ${describe(value.ignore)}`);
  collectDuration(c, join(path, 'debounce'), value.debounce);
}

type ProbeKind = (typeof PROBE_KINDS)[number];
type ProbeCheck = (
  c: Collector,
  path: string,
  probe: Record<string, unknown>,
  port: unknown,
) => void;

/** The checks of each probe kind's own fields. */
const PROBE_CHECKS: Record<ProbeKind, ProbeCheck> = {
  tcp: (c, path, { tcp }, port) => {
    const p = join(path, 'tcp');
    if (tcp !== true) return collectPortNumber(c, p, tcp);
    if (port === undefined) c.add(p, 'tcp: true needs the service to have a port');
  },
  http: (c, path, { http, status }, port) => {
    const p = join(path, 'http');
    if (typeof http !== 'string' || http === '')
      c.add(p, `expected a path such as '/health' or a loopback URL, received ${describe(http)}`);
    else if (!http.startsWith('/')) collectLoopbackUrl(c, p, http);
    else if (port === undefined)
      c.add(p, `a path needs the service to have a port; or give a full URL`);
    collectStatus(c, join(path, 'status'), status);
  },
  log: (c, path, { log }) => {
    if (!(log instanceof RegExp) && (typeof log !== 'string' || log === ''))
      c.add(join(path, 'log'), `expected a string or a RegExp, received ${describe(log)}`);
  },
  exec: (c, path, { exec }) => collectCommand(c, join(path, 'exec'), exec, false),
};

function collectStatus(c: Collector, path: string, status: unknown): undefined {
  if (status === undefined) return;
  const list = Array.isArray(status) ? status : [status];
  if (list.length === 0) c.add(path, 'expected at least one status code');
  for (const s of list) {
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 100 || s > 599)
      c.add(path, `expected an HTTP status 100-599, received ${describe(s)}`);
  }
}

function collectLoopbackUrl(c: Collector, path: string, value: string): undefined {
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

export function collectEnum(
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
