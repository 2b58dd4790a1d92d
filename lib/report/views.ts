import type { ResolvedConfig } from '../config/types.js';
import { formatDuration } from '../format.js';
import type { DownResult } from '../orchestrate/down.js';
import type { StopReport } from '../orchestrate/events.js';
import type { ServiceStopResult } from '../orchestrate/stop-service.js';
import type { UpResult } from '../orchestrate/up.js';
import { isUp, type ServiceStatus } from '../query/status.js';
import type { Colors } from './color.js';
import { formatTable } from './table.js';

/**
 * The one-line summary after a successful `up`: every service with its PID
 * and address (a URL only for services with an http check: a database is
 * `localhost:5432`, not `http://`); past a dozen, the first ten and a count.
 */
export function formatSummary(
  config: ResolvedConfig,
  result: UpResult,
  ms: number,
  colors: Colors,
): string {
  const services = result.services.filter((s) => s.outcome !== 'completed');
  const tasks = result.services.length - services.length;
  const parts = services.map((s) => {
    const port = result.ports[s.name];
    const http = config.services[s.name]?.ready?.kind === 'http';
    const where = port === undefined ? '' : ` ${http ? 'http://' : ''}localhost:${port}`;
    return `${colors.bold(s.name)}${where} (pid ${s.record?.pid}${s.outcome === 'kept' ? ', kept' : ''})`;
  });
  const counted = [
    `${count(services.length, 'service', 'services')} up`,
    ...(tasks === 0 ? [] : [`${count(tasks, 'task', 'tasks')} completed`]),
  ].join(', ');
  const head = colors.green(`✓ ${counted} in ${formatDuration(ms)}`);
  // A summary stays one readable line: past a dozen, `status` lists them all.
  const shown =
    parts.length > SUMMARY_MAX
      ? [
          ...parts.slice(0, SUMMARY_MAX - 2),
          `${parts.length - SUMMARY_MAX + 2} more ('launchguard status' lists them)`,
        ]
      : parts;
  return shown.length === 0 ? head : `${head}: ${shown.join(' · ')}`;
}

/** Services named in the summary line at most. */
const SUMMARY_MAX = 12;

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function uptime(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 60_000) return `${Math.floor(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.floor((ms % 60_000) / 1000)}s`;
  return `${Math.floor(ms / 3_600_000)}h${Math.floor((ms % 3_600_000) / 60_000)}m`;
}

/** The `status` table, with each service's warnings beneath it. */
export function formatStatus(statuses: readonly ServiceStatus[], colors: Colors): string[] {
  const paint = (s: ServiceStatus) => {
    const state = s.health === 'unhealthy' ? `${s.state} (unhealthy)` : s.state;
    const text = s.managedBy === null ? state : `${state} (systemd: ${s.managedBy})`;
    if (isUp(s)) return colors.green(text);
    return s.state === 'not running' ? colors.dim(text) : colors.yellow(text);
  };
  const rows = [
    [
      'service',
      'state',
      'pid',
      'port',
      'port held by',
      'ready',
      'uptime',
      'restarts',
      'cpu',
      'mem',
    ].map((h) => colors.dim(h)),
    ...statuses.map((s) => [
      colors.bold(s.name),
      paint(s),
      s.pid === null ? '-' : String(s.pid),
      s.port === null ? '-' : String(s.port),
      s.portOwner === null ? '-' : s.portOwner === 'self' ? 'itself' : clip(s.portOwner, 40),
      s.state === 'completed' || s.state === 'failed' ? '-' : s.ready ? colors.green('yes') : 'no',
      uptime(s.uptimeMs),
      String(s.restarts),
      s.cpu === null ? '-' : `${s.cpu.toFixed(1)}%`,
      s.rss === null ? '-' : `${(s.rss / 2 ** 20).toFixed(0)} MB`,
    ]),
  ];
  const lines = formatTable(rows);
  const warnings = statuses.flatMap((s) =>
    s.warnings.map((w) => `${colors.yellow('!')} ${s.name}: ${w}`),
  );
  const detached = statuses.some((s) => s.detached && s.state === 'running');
  const keeper = statuses[0]?.keeper ?? null;
  if (keeper !== null) lines.push('', colors.dim(`keeper: pid ${keeper} (restarts and checks on)`));
  else if (detached)
    warnings.push(
      `${colors.yellow('!')} keeper: not running: restarts and health checks of detached services are off ('launchguard up -d' starts one, and it adopts what runs)`,
    );
  return warnings.length > 0 ? [...lines, '', ...warnings] : lines;
}

/** The line about a service's recorded instance after a stop, if any. */
function stopLine(name: string, r: StopReport, colors: Colors): string | null {
  switch (r.outcome) {
    case 'gone':
      return `${colors.dim('·')} ${name} had already exited (pid ${r.pid})`;
    case 'unverifiable':
      return `${colors.yellow('!')} ${name}: pid ${r.pid} not signalled (${r.reason})`;
    case 'refused':
      return null; // its problem line says why
    default:
      return r.forced
        ? `${colors.yellow('✓')} killed ${name} (pid ${r.pid}) with SIGKILL after its stop timeout (${formatDuration(r.durationMs)})`
        : `${colors.green('✓')} stopped ${name} (pid ${r.pid}, ${formatDuration(r.durationMs)})`;
  }
}

/** Lines about one service after `down` or a release. */
function serviceStopLines(s: ServiceStopResult, colors: Colors): string[] {
  const lines: string[] = [];
  const main = s.stopped === undefined ? null : stopLine(s.service, s.stopped, colors);
  if (main !== null) lines.push(main);
  for (const o of s.orphans)
    if (o.outcome === 'stopped' || o.outcome === 'survivors')
      lines.push(
        `${colors.green('✓')} stopped a leftover of ${s.service} (pid ${o.pid}${o.forced ? ', SIGKILL' : ''})`,
      );
  if (s.keptFor !== undefined)
    lines.push(
      `${colors.dim('·')} ${s.service} left running: still used by ${s.keptFor.map((p) => `pid ${p}`).join(', ')}`,
    );
  if (s.pinned)
    lines.push(
      `${colors.dim('·')} ${s.service} left running: started or kept by 'up -d' ('launchguard down' stops it)`,
    );
  for (const c of s.cleaned) lines.push(`${colors.dim('·')} ${c}`);
  for (const p of s.problems) lines.push(`${colors.red('✗')} ${p}`);
  if (lines.length === 0 && s.stopped === undefined && s.task !== true)
    lines.push(`${colors.dim('·')} ${s.service} was not running`);
  return lines;
}

/** What `down` (or giving a stack back) did, one line per fact. */
export function formatDown(result: DownResult, colors: Colors): string[] {
  return result.services.flatMap((s) => serviceStopLines(s, colors));
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
