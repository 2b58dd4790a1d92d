import type { ResolvedProbe } from '../config/types.js';
import type { ExportedService, ExportedStack } from './model.js';
import { envFileText } from './secrets.js';
import { toYaml, type YamlValue } from './yaml.js';

/**
 * A Compose file (the Compose specification, no `version:`) for a stack: one
 * service each, its command in `working_dir` with the project bind-mounted at
 * the same path, its environment, its port published on the host's loopback,
 * a `healthcheck` translated from its checks, and `depends_on` with
 * `service_healthy` / `service_started` / `service_completed_successfully`.
 *
 * - Every `$` in a value is written `$$`: Compose interpolates `$VAR` from
 *   the shell that runs it, and a value means what the config says.
 * - Values from env files go to a 0600 `env_file` beside the Compose file,
 *   never into it.
 * - The image is the service's `image`, or `node:<major>` for a node-family
 *   command; a service with neither gets no image and is listed on stderr.
 * - A health check runs a tool the image has (see {@link healthTest}); where
 *   none is known the check is left out with a comment, and dependents wait
 *   for `service_started`.
 */

/** The family of an image, for what its health check may run. */
type ImageKind = 'node' | 'postgres' | 'redis' | 'busybox' | 'unknown';

/** Known by name: node images, postgres, redis, and images with busybox's wget (alpine, busybox). */
function imageKind(svc: ExportedService): ImageKind {
  const image = (svc.image ?? '').toLowerCase();
  const name = image.split('@')[0]?.split(':')[0]?.split('/').pop() ?? '';
  const tag = image.split('@')[0]?.split(':')[1] ?? '';
  if (name === 'node') return 'node';
  if (name === 'postgres' || name === 'postgis') return 'postgres';
  if (name === 'redis' || name === 'valkey') return 'redis';
  if (name === 'busybox' || name === 'alpine' || tag.includes('alpine')) return 'busybox';
  return 'unknown';
}

/** A node one-liner check (node images). */
function nodeTest(probe: Exclude<ResolvedProbe, { kind: 'exec' | 'log' }>): string[] {
  if (probe.kind === 'tcp')
    return [
      'CMD',
      'node',
      '-e',
      `require('net').connect(${probe.port},'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))`,
    ];
  const ok =
    probe.status === 'ok'
      ? 'r.status>=200&&r.status<400'
      : `${JSON.stringify(probe.status)}.includes(r.status)`;
  return [
    'CMD',
    'node',
    '-e',
    `fetch(${JSON.stringify(probe.url)},{redirect:'manual'}).then(r=>process.exit(${ok}?0:1),()=>process.exit(1))`,
  ];
}

/**
 * A healthcheck `test` with a tool the image has: node in node images, the
 * program's own client in postgres and redis images (`pg_isready`,
 * `redis-cli ping`), busybox's `wget` (http) or `nc` (tcp) in alpine and
 * busybox images; an exec check as configured. Null when nothing is known to
 * work (or a log check): the caller leaves it out with a comment.
 */
function healthTest(probe: ResolvedProbe, svc: ExportedService): readonly string[] | null {
  if (probe.kind === 'exec') return ['CMD', ...probe.argv];
  if (probe.kind === 'log') return null;
  const port = probe.kind === 'tcp' ? probe.port : Number(new URL(probe.url).port || 80);
  switch (imageKind(svc)) {
    case 'node':
      return nodeTest(probe);
    case 'postgres':
      return ['CMD', 'pg_isready', '-h', '127.0.0.1', '-p', String(port)];
    case 'redis':
      return ['CMD', 'redis-cli', '-h', '127.0.0.1', '-p', String(port), 'ping'];
    case 'busybox':
      return probe.kind === 'tcp'
        ? ['CMD', 'nc', '-z', '127.0.0.1', String(port)]
        : ['CMD', 'wget', '-q', '-O', '/dev/null', probe.url];
    case 'unknown':
      return null;
  }
}

function seconds(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

/**
 * The Compose healthcheck: the liveness check (`health`: its interval,
 * timeout and failures) where there is one, with the readiness time as its
 * start period; else the readiness check, retried for `readyTimeout`.
 * Undefined when there is no check, or none the image can run.
 */
function healthcheck(svc: ExportedService): YamlValue | undefined {
  if (svc.task) return undefined;
  if (svc.health !== null) {
    const test = healthTest(svc.health.probe, svc);
    if (test !== null)
      return {
        test,
        interval: seconds(svc.health.interval),
        timeout: seconds(svc.health.timeout),
        retries: svc.health.failures,
        start_period: seconds(svc.readyTimeout),
      };
  }
  if (svc.probe === null) return undefined;
  const test = healthTest(svc.probe, svc);
  if (test === null) return undefined;
  const interval = Math.max(1000, svc.probe.interval);
  return {
    test,
    interval: seconds(interval),
    timeout: '5s',
    retries: Math.max(1, Math.ceil(svc.readyTimeout / interval)),
    start_period: seconds(svc.readyTimeout),
  };
}

/** Why a service has no healthcheck though it has a check, for a comment; null if none is missing. */
function missingCheck(svc: ExportedService): string | null {
  const probe = svc.health?.probe ?? svc.probe;
  if (svc.task || probe === null || probe === undefined || healthcheck(svc) !== undefined)
    return null;
  if (probe.kind === 'log')
    return 'readiness: a log check has no Compose equivalent; dependents wait for service_started.';
  return svc.image === null
    ? null // the comment on the missing image says it
    : 'the image has no tool launchguard knows for this check (node, pg_isready, redis-cli, busybox): no healthcheck; dependents wait for service_started. Add one by hand.';
}

function dependsOn(stack: ExportedStack, svc: ExportedService): YamlValue | undefined {
  if (svc.dependsOn.length === 0) return undefined;
  const byName = new Map(stack.services.map((s) => [s.name, s]));
  const entries = svc.dependsOn.map(({ name, condition }) => {
    const dep = byName.get(name) as ExportedService;
    const healthy = condition === 'ready' && healthcheck(dep) !== undefined;
    const mapped =
      condition === 'completed'
        ? 'service_completed_successfully'
        : healthy
          ? 'service_healthy'
          : 'service_started';
    return [name, { condition: mapped }] as const;
  });
  return Object.fromEntries(entries);
}

const RESTART = { no: 'no', 'on-failure': 'on-failure', always: 'always' } as const;

/** Every `$` of every string doubled: Compose never interpolates a value. */
function literal(value: YamlValue | undefined): YamlValue | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value.replaceAll('$', '$$$$');
  if (typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => literal(v) as YamlValue);
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, k === '#' ? v : literal(v)]),
  ) as YamlValue;
}

/** The name of a service's secrets file, beside the Compose file. */
function composeSecretsName(composeName: string, svc: ExportedService): string {
  return `${composeName.replace(/\.ya?ml$/, '')}.${svc.name}.env`;
}

function service(stack: ExportedStack, svc: ExportedService, composeName: string): YamlValue {
  const missing = missingCheck(svc);
  const comments = [
    ...(missing === null ? [] : [missing]),
    ...(svc.image === null
      ? [
          `no image: set services.${JSON.stringify(svc.name)}.image (only node-family commands get a node image); no healthcheck until then.`,
        ]
      : []),
  ];
  return {
    '#': comments.length > 0 ? comments : undefined,
    ...(literal({
      image: svc.image ?? undefined,
      working_dir: svc.cwd,
      // The long form: a ':' in the path cannot split it.
      volumes: [{ type: 'bind', source: stack.root, target: stack.root }],
      command: svc.argv,
      environment: { ...svc.env },
    }) as Record<string, YamlValue>),
    env_file:
      Object.keys(svc.secretEnv).length > 0 ? [composeSecretsName(composeName, svc)] : undefined,
    ports: svc.port === null ? undefined : [`127.0.0.1:${svc.port}:${svc.port}`],
    healthcheck: literal(healthcheck(svc)),
    depends_on: dependsOn(stack, svc),
    restart: svc.task ? 'no' : RESTART[svc.restart],
  };
}

/** A Compose export: the file and the 0600 env files it names (values from env files). */
export interface ComposeExport {
  readonly text: string;
  readonly secrets: ReadonlyMap<string, string>;
  /** Services with no image: the caller lists them on stderr. */
  readonly withoutImage: readonly string[];
}

/** The Compose file of a stack, as text, and its secrets files (named relative to it). */
export function composeFile(stack: ExportedStack, composeName = 'compose.yml'): ComposeExport {
  const header = [
    'Generated by launchguard; export again after changing the config.',
    'Each service runs its own command in a container with the project mounted at the same path.',
    'Ports are published on the host loopback only (127.0.0.1:PORT); inside its container a service',
    'must listen on 0.0.0.0 to be reached through them. URLs that say localhost or',
    '127.0.0.1 in the environment are not rewritten to service names: inside Compose, services',
    'are separate hosts, so fix such URLs by hand (out of scope for the export).',
    'Every $ in a value is written $$ (Compose would read $VAR from the shell).',
    ...Object.entries(stack.pickedPorts).map(
      ([n, p]) => `${JSON.stringify(n)}: port 'auto' in the config, ${p} picked at export time.`,
    ),
    ...(stack.envFiles.length > 0
      ? ['Values from env files are in the 0600 env_file of each service, not here.']
      : []),
  ];
  const services = Object.fromEntries(
    stack.services.map((s) => [s.name, service(stack, s, composeName)]),
  );
  const secrets = new Map(
    stack.services
      .filter((s) => Object.keys(s.secretEnv).length > 0)
      .map((s) => [
        composeSecretsName(composeName, s),
        envFileText(s.secretEnv, s.name, 'compose'),
      ]),
  );
  return {
    text: toYaml({ services }, header),
    secrets,
    withoutImage: stack.services.filter((s) => s.image === null).map((s) => s.name),
  };
}
