import { relative } from 'node:path';
import type { ResolvedConfig, ResolvedProbe, ResolvedService } from '../config/types.js';
import { formatDuration } from '../format.js';
import type { Colors } from './color.js';
import { formatTable } from './table.js';

/** A readiness check in one phrase, for the plan and status views. */
function describeProbe(probe: ResolvedProbe | null): string {
  if (probe === null) return 'when started';
  switch (probe.kind) {
    case 'tcp':
      return `tcp :${probe.port}`;
    case 'http':
      return `http ${probe.url}${probe.status === 'ok' ? '' : ` → ${probe.status.join('|')}`}`;
    case 'log':
      return `log ${typeof probe.pattern === 'string' ? JSON.stringify(probe.pattern) : String(probe.pattern)}`;
    case 'exec':
      return `exec ${probe.argv.join(' ')}`;
  }
}

function after(svc: ResolvedService): string {
  const deps = Object.entries(svc.dependsOn);
  if (deps.length === 0) return '-';
  return deps.map(([name, cond]) => (cond === 'ready' ? name : `${name} (${cond})`)).join(', ');
}

/**
 * The resolved plan as text: services in start order by dependency level with
 * their command, cwd, port, readiness check and dependencies, then the stop order.
 */
export function formatPlan(config: ResolvedConfig, colors: Colors): string[] {
  const rel = (path: string) => relative(config.root, path) || '.';
  const header = ['level', 'service', 'command', 'cwd', 'port', 'ready (timeout)', 'after'];
  const rows = [header.map((h) => colors.dim(h))];
  config.levels.forEach((level, i) => {
    for (const name of level) {
      const svc = config.services[name] as ResolvedService;
      rows.push([
        String(i),
        colors.bold(name),
        svc.shell ? `sh -c ${JSON.stringify(svc.commandText)}` : svc.commandText,
        rel(svc.cwd),
        svc.port === null ? '-' : String(svc.port),
        `${describeProbe(svc.ready)}${svc.ready === null ? '' : ` (${formatDuration(svc.readyTimeout)})`}`,
        after(svc),
      ]);
    }
  });
  const stop = [...config.levels].reverse().map((level) => level.join(', '));
  const count = Object.keys(config.services).length;
  return [
    `${colors.bold('config')}  ${config.file}`,
    `${colors.bold('stack')}   ${config.name}   state dir ${rel(config.pidDir)}`,
    '',
    colors.bold('start order'),
    ...formatTable(rows, '  '),
    '',
    `${colors.bold('stop order')}  ${stop.join(' → ')}`,
    '',
    colors.green(
      `config is valid: ${count} service${count === 1 ? '' : 's'}, ${config.levels.length} level${config.levels.length === 1 ? '' : 's'}`,
    ),
  ];
}
