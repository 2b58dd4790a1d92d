import { createHash } from 'node:crypto';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import { parseEnv } from 'node:util';
import { LaunchError } from '../errors.js';
import { dependencyLevels } from './graph.js';
import { splitCommand } from './split.js';
import { readTrustedFile } from './trusted-file.js';
import type {
  DependencyCondition,
  ReadyCheck,
  ResolvedConfig,
  ResolvedHealth,
  ResolvedProbe,
  ResolvedService,
  ServiceConfig,
  UserConfig,
} from './types.js';
import { type ConfigIssue, validateConfig } from './validate.js';
import { resolveWatch } from './watch.js';

/** Defaults, in one place. */
export const DEFAULTS = Object.freeze({
  pidDir: '.pids',
  readyTimeout: 30_000,
  stopTimeout: 10_000,
  stopSignal: 'SIGTERM' as NodeJS.Signals,
  probeInterval: 100,
  restart: 'no' as const,
  maxRestarts: 5,
  minUptime: 10_000,
  healthInterval: 10_000,
  healthTimeout: 5_000,
  healthFailures: 3,
  logMaxSize: 10 * 1024 * 1024,
  logKeep: 3,
});

/** Throws the one config error that lists every issue, each with its key path. */
function configError(file: string, issues: readonly ConfigIssue[]): LaunchError {
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  return new LaunchError('E_CONFIG', `${file}: ${count} in the config`, {
    details: issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)),
    hint: 'fix the keys above; `launchguard validate` checks a config without starting anything',
  });
}

function list(value: string | readonly string[] | undefined): readonly string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : value;
}

function readEnvFiles(
  value: string | readonly string[] | undefined,
  root: string,
  path: string,
  issues: ConfigIssue[],
): Record<string, string> {
  const env: Record<string, string> = {};
  const files = list(value);
  files.forEach((file, i) => {
    const abs = resolvePath(root, file);
    const p = typeof value === 'string' ? path : `${path}[${i}]`;
    try {
      // It feeds the commands' environment (NODE_OPTIONS, LD_PRELOAD): as good as code.
      Object.assign(env, parseEnv(readTrustedFile(abs, 'env', root).text));
    } catch (error) {
      const e = error as LaunchError;
      issues.push({ path: p, message: `${e.message}${e.hint ? `: ${e.hint}` : ''}` });
    }
  });
  return env;
}

function resolveHealth(svc: ServiceConfig, port: number | 'auto' | null): ResolvedHealth | null {
  if (svc.health === undefined) return null;
  const { interval, timeout, failures, ...check } = svc.health;
  const probe = resolveProbe({ ...svc, ready: check as ReadyCheck }, port);
  if (probe === null) return null;
  return {
    probe,
    interval: interval ?? DEFAULTS.healthInterval,
    timeout: timeout ?? DEFAULTS.healthTimeout,
    failures: failures ?? DEFAULTS.healthFailures,
  };
}

function resolveProbe(svc: ServiceConfig, port: number | 'auto' | null): ResolvedProbe | null {
  const ready: ReadyCheck | undefined = svc.ready;
  const fallback = DEFAULTS.probeInterval;
  if (ready === undefined) {
    return port === null ? null : { kind: 'tcp', port, interval: fallback };
  }
  const interval = ready.interval ?? fallback;
  if ('tcp' in ready)
    return { kind: 'tcp', port: ready.tcp === true ? (port ?? 'auto') : ready.tcp, interval };
  if ('http' in ready) {
    const url = ready.http.startsWith('/')
      ? `http://127.0.0.1:${port ?? 'auto'}${ready.http}`
      : ready.http;
    const status =
      ready.status === undefined
        ? 'ok'
        : typeof ready.status === 'number'
          ? [ready.status]
          : [...ready.status];
    return { kind: 'http', url, status, interval };
  }
  if ('log' in ready) return { kind: 'log', pattern: ready.log, interval };
  const exec = ready.exec;
  const argv = typeof exec === 'string' ? splitArgv(exec) : [...exec];
  return { kind: 'exec', argv, shell: false, interval };
}

function splitArgv(command: string): string[] {
  const split = splitCommand(command);
  return 'argv' in split ? split.argv : [command]; // validation already refused bad strings
}

function dependencies(svc: ServiceConfig): Record<string, DependencyCondition> {
  const deps = svc.dependsOn;
  if (deps === undefined) return {};
  if (Array.isArray(deps))
    return Object.fromEntries(deps.map((d: string) => [d, 'ready' as const]));
  return { ...(deps as Record<string, DependencyCondition>) };
}

function hashOf(value: unknown): string {
  const json = JSON.stringify(value, (_k, v: unknown) => (v instanceof RegExp ? String(v) : v));
  return createHash('sha256').update(json).digest('hex').slice(0, 16);
}

function resolveService(
  name: string,
  svc: ServiceConfig,
  root: string,
  shared: { readonly env: Record<string, string>; readonly fromFiles: ReadonlySet<string> },
  issues: ConfigIssue[],
  pidDir: string,
): ResolvedService {
  const shell = svc.shell === true;
  const commandText = typeof svc.command === 'string' ? svc.command : svc.command.join(' ');
  const argv =
    typeof svc.command === 'string'
      ? shell
        ? [svc.command]
        : splitArgv(svc.command)
      : [...svc.command];
  const cwd = resolvePath(root, svc.cwd ?? '.');
  const ownFiles = readEnvFiles(svc.envFile, root, `services.${name}.envFile`, issues);
  const env = Object.freeze({ ...shared.env, ...ownFiles, ...(svc.env ?? {}) });
  // Keys whose value came from an env file: exports keep them out of unit and Compose files.
  const fromFiles = Object.keys(env).filter(
    (k) => !Object.hasOwn(svc.env ?? {}, k) && (k in ownFiles || shared.fromFiles.has(k)),
  );
  const port = svc.port ?? null;
  const ready = resolveProbe(svc, port);
  const resolved = {
    name,
    argv: Object.freeze(argv),
    shell,
    commandText,
    cwd,
    env,
    envFromFiles: Object.freeze(fromFiles),
    port,
    ready,
    readyTimeout: svc.readyTimeout ?? DEFAULTS.readyTimeout,
    stopTimeout: svc.stopTimeout ?? DEFAULTS.stopTimeout,
    stopSignal: (svc.stopSignal ?? DEFAULTS.stopSignal) as NodeJS.Signals,
    dependsOn: Object.freeze(dependencies(svc)),
    restart: svc.restart ?? DEFAULTS.restart,
    maxRestarts: svc.maxRestarts ?? DEFAULTS.maxRestarts,
    minUptime: svc.minUptime ?? DEFAULTS.minUptime,
    image: svc.image ?? null,
    pidFile: svc.pidFile === undefined ? null : resolvePath(cwd, svc.pidFile),
    health: resolveHealth(svc, port),
    watch: resolveWatch(svc.watch, cwd, pidDir),
    rerun: svc.rerun ?? 'always',
  };
  const configHash = hashOf({
    argv,
    shell,
    cwd,
    env,
    port,
    ready,
    stopSignal: resolved.stopSignal,
    pidFile: resolved.pidFile,
  });
  return Object.freeze({ ...resolved, configHash });
}

/** A stack name from a folder name: the safe characters only. */
function stackName(root: string): string {
  const cleaned = basename(root)
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '');
  return cleaned.slice(0, 64) || 'stack';
}

/**
 * Validates a user config and turns it into the frozen shape the engine uses:
 * defaults filled in, paths absolute (relative to the config file's folder),
 * env merged (top-level env files, top-level `env`, service env files, service
 * `env`; later wins), commands split into argv, and services grouped by
 * dependency level. `port: 'auto'` stays `'auto'`, a marker the start path
 * resolves. Throws a {@link LaunchError} `E_CONFIG` listing every problem.
 *
 * @param config what the config file exported (already called, if a function)
 * @param file absolute path of the config file
 */
export function resolveConfig(config: unknown, file: string): ResolvedConfig {
  const issues = validateConfig(config);
  if (issues.length > 0) throw configError(file, issues);
  const user = config as UserConfig;
  const root = dirname(file);
  const sharedFiles = readEnvFiles(user.envFile, root, 'envFile', issues);
  const shared = {
    env: { ...sharedFiles, ...(user.env ?? {}) },
    fromFiles: new Set(Object.keys(sharedFiles).filter((k) => !Object.hasOwn(user.env ?? {}, k))),
  };
  const pidDir = resolvePath(root, user.pidDir ?? DEFAULTS.pidDir);
  const services: Record<string, ResolvedService> = {};
  for (const [name, svc] of Object.entries(user.services)) {
    services[name] = resolveService(name, svc, root, shared, issues, pidDir);
  }
  if (issues.length > 0) throw configError(file, issues);
  const graph = Object.fromEntries(
    Object.entries(services).map(([n, s]) => [n, Object.keys(s.dependsOn)]),
  );
  return Object.freeze({
    file,
    root,
    name: user.name ?? stackName(root),
    pidDir,
    logs: Object.freeze({
      maxSize: user.logs?.maxSize ?? DEFAULTS.logMaxSize,
      keep: user.logs?.keep ?? DEFAULTS.logKeep,
    }),
    services: Object.freeze(services),
    levels: Object.freeze(dependencyLevels(graph).map((l) => Object.freeze(l))),
    envFiles: Object.freeze(
      [...list(user.envFile), ...Object.values(user.services).flatMap((s) => list(s.envFile))].map(
        (f) => resolvePath(root, f),
      ),
    ),
  });
}
