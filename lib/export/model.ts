import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type {
  DependencyCondition,
  ResolvedConfig,
  ResolvedHealth,
  ResolvedProbe,
  ResolvedService,
} from '../config/types.js';
import { LaunchError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { pickPort } from '../ports/auto.js';
import { serviceEnv } from '../process/env.js';
import { locateProgram } from '../process/resolve-command.js';
import { stackId } from '../state/marker.js';

/**
 * What every export needs of a stack, resolved once: absolute programs,
 * concrete ports, the full environment of each service, its dependencies and
 * its readiness check. A writer (`systemd.ts`, `compose.ts`; a Kubernetes one
 * would be one more file) only turns this into its format.
 */

/** One service, ready to be written as a unit, a Compose service... */
export interface ExportedService {
  readonly name: string;
  /** The program, absolute (`/bin/sh` for `shell: true`). */
  readonly program: string;
  /** Its arguments (`['-c', line]` for `shell: true`). */
  readonly args: readonly string[];
  /** The command as configured (`['sh', '-c', line]` for `shell: true`): for containers, where host paths mean nothing. */
  readonly argv: readonly string[];
  readonly cwd: string;
  /** The config's env, `PORT`, every `<NAME>_PORT` and the stack's marker. */
  readonly env: Readonly<Record<string, string>>;
  readonly port: number | null;
  /** The readiness check, its port resolved; null: ready once started. */
  readonly probe: ResolvedProbe | null;
  /** The liveness check (`health`), its port resolved; null without one. */
  readonly health: (Omit<ResolvedHealth, 'probe'> & { readonly probe: ResolvedProbe }) | null;
  readonly readyTimeout: number;
  readonly stopTimeout: number;
  readonly stopSignal: NodeJS.Signals;
  readonly restart: ResolvedService['restart'];
  readonly maxRestarts: number;
  readonly dependsOn: readonly { readonly name: string; readonly condition: DependencyCondition }[];
  /** A one-shot task: some dependent waits for it to complete, and it has no port. */
  readonly task: boolean;
  readonly image: string;
}

/** A stack, ready to export. */
export interface ExportedStack {
  readonly name: string;
  readonly configFile: string;
  readonly root: string;
  readonly services: readonly ExportedService[];
  /** How to run `launchguard` from a unit: node and the CLI, absolute. */
  readonly launcher: readonly string[];
  /** `port: 'auto'` services and the ports picked for them at export time. */
  readonly pickedPorts: Readonly<Record<string, number>>;
  /** Env files merged into the environment (they are read at export time). */
  readonly envFiles: readonly string[];
}

/**
 * The marker an exported service carries: the stack's, with a fixed nonce
 * (`LAUNCHGUARD_INSTANCE=<stack>/<service>/<nonce>`), so launchguard knows it
 * for one of the stack's services when systemd runs it.
 */
function exportMarker(config: ResolvedConfig, service: string): string {
  const nonce = createHash('sha256').update('launchguard-export').digest('hex').slice(0, 12);
  return `${stackId(config.name, config.file)}/${service}/${nonce}`;
}

function withPort(probe: ResolvedProbe | null, port: number | null): ResolvedProbe | null {
  if (probe === null || port === null) return probe;
  if (probe.kind === 'tcp' && probe.port === 'auto') return { ...probe, port };
  if (probe.kind === 'http') return { ...probe, url: probe.url.replace(':auto/', `:${port}/`) };
  return probe;
}

function command(svc: ResolvedService): { program: string; args: string[] } {
  if (svc.shell) return { program: '/bin/sh', args: ['-c', svc.argv[0] ?? ''] };
  const [program = '', ...args] = svc.argv;
  const found = locateProgram(program, svc.cwd, { ...process.env, ...svc.env });
  if (found.kind !== 'ok' || found.path === undefined) {
    throw new LaunchError(
      'E_SPAWN',
      `${svc.name}: cannot export '${program}': ${found.kind === 'missing' ? 'command not found' : 'not executable'}`,
      {
        service: svc.name,
        hint: 'a unit needs an absolute, executable program: install it, or give its path in the config',
      },
    );
  }
  return { program: found.path, args };
}

/** Resolves a stack for export: programs, ports (auto ports picked now), env, dependencies. */
export async function exportModel(config: ResolvedConfig): Promise<ExportedStack> {
  const ports: Record<string, number> = {};
  const pickedPorts: Record<string, number> = {};
  for (const svc of Object.values(config.services))
    if (typeof svc.port === 'number') ports[svc.name] = svc.port;
  for (const svc of Object.values(config.services)) {
    if (svc.port !== 'auto') continue;
    const port = await pickPort(Object.values(ports));
    ports[svc.name] = port;
    pickedPorts[svc.name] = port;
  }
  const tasks = new Set(
    Object.values(config.services).flatMap((s) =>
      Object.entries(s.dependsOn)
        .filter(([, c]) => c === 'completed')
        .map(([d]) => d),
    ),
  );
  const services = Object.values(config.services).map((svc): ExportedService => {
    const port = ports[svc.name] ?? null;
    const env = serviceEnv(svc, ports, exportMarker(config, svc.name), {});
    return {
      name: svc.name,
      ...command(svc),
      argv: svc.shell ? ['sh', '-c', svc.argv[0] ?? ''] : [...svc.argv],
      cwd: svc.cwd,
      env: env as Record<string, string>,
      port,
      probe: withPort(svc.ready, port),
      health:
        svc.health === null
          ? null
          : { ...svc.health, probe: withPort(svc.health.probe, port) as ResolvedProbe },
      readyTimeout: svc.readyTimeout,
      stopTimeout: svc.stopTimeout,
      stopSignal: svc.stopSignal,
      restart: svc.restart,
      maxRestarts: svc.maxRestarts,
      dependsOn: Object.entries(svc.dependsOn).map(([name, condition]) => ({ name, condition })),
      task: tasks.has(svc.name) && port === null,
      image: svc.image ?? `node:${process.versions.node.split('.')[0]}`,
    };
  });
  return {
    name: config.name,
    configFile: config.file,
    root: config.root,
    services,
    launcher: [process.execPath, join(packageRoot(), 'bin', 'launchguard.js')],
    pickedPorts,
    envFiles: config.envFiles,
  };
}
