import { createHash } from 'node:crypto';
import { portEnvName } from '../config/env-names.js';
import type { ResolvedProbe } from '../config/types.js';
import { LaunchError } from '../errors.js';
import { MARKER_ENV } from '../state/marker.js';
import type { ExportedService, ExportedStack } from './model.js';
import { toYaml, type YamlValue } from './yaml.js';

/**
 * Kubernetes manifests for a stack that outgrew one machine:
 *
 * - each long-running service: a Deployment (1 replica) and, with a port, a
 *   ClusterIP Service of the same name; each one-shot task: a Job;
 * - env: a ConfigMap per service; values from env files: a Secret per
 *   service (written to its own 0600 file, never printed);
 *   `PORT`, every `<NAME>_PORT` and `<NAME>_HOST` point at the Services
 *   (their DNS names in the namespace);
 * - `ready` → `readinessProbe` (httpGet, tcpSocket, exec), and with a
 *   `health` check also a `startupProbe` so the `livenessProbe` starts after
 *   the service is up; a log check is named in a comment;
 * - `stopTimeout` → `terminationGracePeriodSeconds`; a stop signal other
 *   than SIGTERM is named in a comment (Kubernetes sends SIGTERM);
 * - dependencies → initContainers: one waits until a Service answers on its
 *   port (busybox `nc`), one until a Job completed (`kubectl wait`, with a
 *   ServiceAccount allowed to read Jobs in the namespace).
 *
 * Every service needs an `image` (the project is not mounted, as with
 * Compose): without one the export fails, listing them. The objects are
 * validated against the Kubernetes schema in the tests (kubernetes-models).
 */

/** A Kubernetes object as written. */
export type KubeObject = { readonly [key: string]: YamlValue | undefined };

/** Options of {@link kubernetesManifests}. */
export interface KubernetesOptions {
  /** metadata.namespace of every object; none: the namespace `kubectl apply` uses. */
  readonly namespace?: string;
}

/** The manifests of a stack: the objects anyone may read, and the Secrets apart. */
export interface KubernetesExport {
  readonly objects: readonly KubeObject[];
  readonly secrets: readonly KubeObject[];
}

const WAIT_IMAGE = 'busybox:1.36';
const KUBECTL_IMAGE = 'registry.k8s.io/kubectl:v1.31.0';
const DNS_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * A service's object name: a DNS-1035 label (lower case, digits and `-`,
 * starting with a letter, at most 63 characters). A name that is not one is
 * made one, with a short hash so that two never collide.
 */
function kubeName(name: string): string {
  if (DNS_LABEL.test(name)) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 6);
  const base = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 50);
  return `${base === '' ? 's' : base}-${hash}`;
}

function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** The probe's action (httpGet, tcpSocket, exec), or null for a log check. */
function action(probe: ResolvedProbe, port: number | null): Record<string, YamlValue> | null {
  switch (probe.kind) {
    case 'tcp':
      return { tcpSocket: { port: typeof probe.port === 'number' ? probe.port : (port ?? 0) } };
    case 'http': {
      const url = new URL(probe.url);
      return {
        httpGet: {
          path: `${url.pathname}${url.search}`,
          port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
          scheme: url.protocol === 'https:' ? 'HTTPS' : 'HTTP',
        },
      };
    }
    case 'exec':
      return { exec: { command: [...probe.argv] } };
    case 'log':
      return null;
  }
}

function labels(stack: ExportedStack, svc: ExportedService): Record<string, string> {
  return {
    'app.kubernetes.io/name': kubeName(svc.name),
    'app.kubernetes.io/part-of': kubeName(stack.name),
    'app.kubernetes.io/managed-by': 'launchguard',
  };
}

function metadata(
  name: string,
  stack: ExportedStack,
  svc: ExportedService | null,
  options: KubernetesOptions,
): Record<string, YamlValue> {
  return {
    name,
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
    labels:
      svc === null
        ? {
            'app.kubernetes.io/part-of': kubeName(stack.name),
            'app.kubernetes.io/managed-by': 'launchguard',
          }
        : labels(stack, svc),
  };
}

/**
 * The ConfigMap data of a service: its env without the launchguard marker,
 * `PORT`, every `<NAME>_PORT` (the Service's port) and `<NAME>_HOST` (its name).
 */
function configData(stack: ExportedStack, svc: ExportedService): Record<string, string> {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(svc.env)) if (k !== MARKER_ENV) data[k] = v;
  for (const other of stack.services) {
    if (other.port === null) continue;
    data[portEnvName(other.name)] = String(other.port);
    data[portEnvName(other.name).replace(/_PORT$/, '_HOST')] = kubeName(other.name);
  }
  if (svc.port !== null) data.PORT = String(svc.port);
  return data;
}

/** The initContainers that hold a dependent until its dependencies are there. */
function waits(stack: ExportedStack, svc: ExportedService): YamlValue[] {
  const byName = new Map(stack.services.map((s) => [s.name, s]));
  return svc.dependsOn.flatMap(({ name }): YamlValue[] => {
    const dep = byName.get(name) as ExportedService;
    const target = kubeName(dep.name);
    if (dep.task)
      return [
        {
          name: `wait-${target}`.slice(0, 63),
          image: KUBECTL_IMAGE,
          command: [
            'kubectl',
            'wait',
            '--for=condition=complete',
            '--timeout=-1s',
            `job/${target}`,
          ],
        },
      ];
    if (dep.port === null) return [];
    return [
      {
        name: `wait-${target}`.slice(0, 63),
        image: WAIT_IMAGE,
        command: [
          'sh',
          '-c',
          `until nc -z ${target} ${dep.port}; do echo waiting for ${target}; sleep 1; done`,
        ],
      },
    ];
  });
}

/** Comments on what the manifest cannot say: a log check, a stop signal, restart 'no'. */
function notes(svc: ExportedService): string[] {
  const out: string[] = [];
  if (svc.probe?.kind === 'log')
    out.push('readiness: a log check has no Kubernetes probe; the Pod is ready once started.');
  if (svc.stopSignal !== 'SIGTERM')
    out.push(`stop signal: Kubernetes sends SIGTERM; the config asks for ${svc.stopSignal}.`);
  if (!svc.task && svc.restart !== 'always')
    out.push(`restart: a Deployment always restarts its Pod; the config says '${svc.restart}'.`);
  if (svc.dependsOn.some((d) => d.condition === 'started'))
    out.push("dependsOn 'started' is waited for as 'ready' (the Service answers).");
  out.push("runs in the image's working directory: the project is not mounted.");
  return out;
}

function container(svc: ExportedService): Record<string, YamlValue> {
  const ready = svc.probe === null ? null : action(svc.probe, svc.port);
  const period = seconds(svc.probe?.interval ?? 1000);
  const live = svc.health === null ? null : action(svc.health.probe, svc.port);
  const name = kubeName(svc.name);
  const envFrom: YamlValue[] = [{ configMapRef: { name: `${name}-env` } }];
  if (Object.keys(svc.secretEnv).length > 0) envFrom.push({ secretRef: { name: `${name}-env` } });
  return {
    name,
    image: svc.image as string,
    command: [...svc.argv],
    envFrom,
    ...(svc.port === null ? {} : { ports: [{ name: 'main', containerPort: svc.port }] }),
    ...(ready === null || svc.task
      ? {}
      : { readinessProbe: { ...ready, periodSeconds: period, timeoutSeconds: 5 } }),
    ...(live === null || svc.health === null
      ? {}
      : {
          startupProbe: {
            ...(ready ?? live),
            periodSeconds: period,
            failureThreshold: Math.max(1, Math.ceil(svc.readyTimeout / (period * 1000))),
          },
          livenessProbe: {
            ...live,
            periodSeconds: seconds(svc.health.interval),
            timeoutSeconds: seconds(svc.health.timeout),
            failureThreshold: svc.health.failures,
          },
        }),
  };
}

function podSpec(
  stack: ExportedStack,
  svc: ExportedService,
  restartPolicy: string,
): Record<string, YamlValue> {
  const init = waits(stack, svc);
  const needsKubectl = svc.dependsOn.some(
    (d) => stack.services.find((s) => s.name === d.name)?.task === true,
  );
  return {
    ...(needsKubectl ? { serviceAccountName: `${kubeName(stack.name)}-waiter` } : {}),
    restartPolicy,
    terminationGracePeriodSeconds: seconds(svc.stopTimeout),
    ...(init.length > 0 ? { initContainers: init } : {}),
    containers: [container(svc)],
  };
}

function workload(
  stack: ExportedStack,
  svc: ExportedService,
  options: KubernetesOptions,
): KubeObject {
  const name = kubeName(svc.name);
  const meta = metadata(name, stack, svc, options);
  const template = { metadata: { labels: labels(stack, svc) } };
  if (svc.task)
    return {
      '#': notes(svc),
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: meta,
      spec: {
        backoffLimit: svc.restart === 'no' ? 0 : svc.maxRestarts,
        template: {
          ...template,
          spec: podSpec(stack, svc, svc.restart === 'no' ? 'Never' : 'OnFailure'),
        },
      },
    };
  return {
    '#': notes(svc),
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta,
    spec: {
      replicas: 1,
      selector: {
        matchLabels: {
          'app.kubernetes.io/name': name,
          'app.kubernetes.io/part-of': kubeName(stack.name),
        },
      },
      template: { ...template, spec: podSpec(stack, svc, 'Always') },
    },
  };
}

/** The ServiceAccount, Role and RoleBinding that let initContainers wait for Jobs. */
function waiterAccess(stack: ExportedStack, options: KubernetesOptions): KubeObject[] {
  const name = `${kubeName(stack.name)}-waiter`;
  const meta = metadata(name, stack, null, options);
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta,
      rules: [{ apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [
        {
          kind: 'ServiceAccount',
          name,
          ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
        },
      ],
    },
  ];
}

/** Refuses a stack with services that have no image, or names that collide once made DNS labels. */
function assertExportable(stack: ExportedStack): void {
  const lacking = stack.services
    .filter((s) => s.image === null || s.imageAssumed)
    .map((s) => s.name);
  if (lacking.length > 0)
    throw new LaunchError(
      'E_CONFIG',
      `export kubernetes needs an image for every service; without one: ${lacking.join(', ')}`,
      {
        hint: 'set services.<name>.image to an image that holds the project (a node image alone does not: the project is not mounted)',
      },
    );
  const seen = new Map<string, string>();
  for (const s of stack.services) {
    const k = kubeName(s.name);
    const other = seen.get(k);
    if (other !== undefined)
      throw new LaunchError(
        'E_CONFIG',
        `services ${other} and ${s.name} both become '${k}' in Kubernetes`,
        {
          hint: 'rename one of them',
        },
      );
    seen.set(k, s.name);
  }
}

/** The Kubernetes objects of a stack (see above). Throws E_CONFIG for a service without an image. */
export function kubernetesManifests(
  stack: ExportedStack,
  options: KubernetesOptions = {},
): KubernetesExport {
  assertExportable(stack);
  const objects: KubeObject[] = [];
  const secrets: KubeObject[] = [];
  if (stack.services.some((s) => s.task)) objects.push(...waiterAccess(stack, options));
  for (const svc of stack.services) {
    const name = kubeName(svc.name);
    objects.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: metadata(`${name}-env`, stack, svc, options),
      data: configData(stack, svc),
    });
    if (Object.keys(svc.secretEnv).length > 0)
      secrets.push({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: metadata(`${name}-env`, stack, svc, options),
        type: 'Opaque',
        stringData: { ...svc.secretEnv },
      });
    objects.push(workload(stack, svc, options));
    if (svc.port !== null && !svc.task)
      objects.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: metadata(name, stack, svc, options),
        spec: {
          selector: {
            'app.kubernetes.io/name': name,
            'app.kubernetes.io/part-of': kubeName(stack.name),
          },
          ports: [{ name: 'main', port: svc.port, targetPort: svc.port }],
        },
      });
  }
  return { objects, secrets };
}

/** Objects as one YAML stream (`---` between documents). */
export function kubernetesYaml(objects: readonly KubeObject[], header: readonly string[]): string {
  return objects.map((o, i) => toYaml(o, i === 0 ? header : [])).join('---\n');
}
