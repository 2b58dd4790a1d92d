import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
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
import { servicePaths } from '../state/paths.js';
import { ensureStateDir } from '../state/trust.js';

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
  /**
   * The config's env, `PORT`, every `<NAME>_PORT` and the stack's marker;
   * without the values that came from env files (see {@link secretEnv}).
   */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Values from env files (`envFile`): secrets, written only to a 0600 file
   * the unit or Compose file names, never into the unit or Compose file.
   */
  readonly secretEnv: Readonly<Record<string, string>>;
  /** Where launchguard keeps the service's log (a unit appends its output there). */
  readonly logFile: string;
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
  /**
   * The container image: the service's `image`, else `node:<major>` for a
   * node, npm, npx, pnpm or yarn command; null when neither (no guess).
   */
  readonly image: string | null;
  /** True when {@link image} was assumed from a node-family command. */
  readonly imageAssumed: boolean;
}

/** A stack, ready to export. */
export interface ExportedStack {
  readonly name: string;
  readonly configFile: string;
  readonly root: string;
  /** The state folder (records, logs): writable for the services' units. */
  readonly pidDir: string;
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

function command(svc: ResolvedService, local: boolean): { program: string; args: string[] } {
  if (svc.shell) return { program: '/bin/sh', args: ['-c', svc.argv[0] ?? ''] };
  const [program = '', ...args] = svc.argv;
  // In a container the program is the image's: only units need it on this machine.
  if (!local) return { program, args };
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

/** Programs that run in a node image (the node image has them all). */
const NODE_PROGRAMS = new Set(['node', 'npm', 'npx', 'pnpm', 'yarn', 'corepack']);

/**
 * The image of a service: its own `image`, or `node:<this Node's major>` for a
 * node-family command (in a shell line: its first word); null otherwise.
 */
function imageOf(svc: ResolvedService): string | null {
  if (svc.image !== null) return svc.image;
  const first = svc.shell ? (svc.argv[0] ?? '').trim().split(/\s+/)[0] : svc.argv[0];
  const program = basename(first ?? '');
  return NODE_PROGRAMS.has(program) ? `node:${process.versions.node.split('.')[0]}` : null;
}

/**
 * Resolves a stack for export: programs, ports (auto ports picked now), env,
 * dependencies. `local`: the programs run on this machine (systemd units),
 * so each must be found here, absolute; containers run the image's.
 */
export async function exportModel(
  config: ResolvedConfig,
  options: { readonly local: boolean } = { local: true },
): Promise<ExportedStack> {
  // Units append the services' output to logs there: systemd creates files, not folders.
  if (options.local) ensureStateDir(config.pidDir);
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
    const all = serviceEnv(svc, ports, exportMarker(config, svc.name), {}) as Record<
      string,
      string
    >;
    const secret = new Set(svc.envFromFiles);
    const env = Object.fromEntries(Object.entries(all).filter(([k]) => !secret.has(k)));
    const secretEnv = Object.fromEntries(Object.entries(all).filter(([k]) => secret.has(k)));
    const image = imageOf(svc);
    return {
      name: svc.name,
      ...command(svc, options.local),
      argv: svc.shell ? ['sh', '-c', svc.argv[0] ?? ''] : [...svc.argv],
      cwd: svc.cwd,
      env,
      secretEnv,
      logFile: servicePaths(config.pidDir, svc.name).log,
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
      image,
      imageAssumed: svc.image === null && image !== null,
    };
  });
  return {
    name: config.name,
    configFile: config.file,
    root: config.root,
    pidDir: config.pidDir,
    services,
    launcher: [process.execPath, join(packageRoot(), 'bin', 'launchguard.js')],
    pickedPorts,
    envFiles: config.envFiles,
  };
}
