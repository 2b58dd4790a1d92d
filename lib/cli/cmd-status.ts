import type { ResolvedConfig } from '../config/types.js';
import { delay } from '../delay.js';
import { isUp, type ServiceStatus, stackStatus } from '../query/status.js';
import { formatStatus } from '../report/views.js';
import type { CommandContext } from './context.js';
import { onStopSignals } from './shutdown.js';

/** `status`: the table (or JSON); exit 3 unless every selected service runs and is ready (a task: completed). */
export async function status(ctx: CommandContext): Promise<number> {
  const config = await ctx.load();
  if (ctx.args.values.watch === true) return watchStatus(ctx, config);
  const statuses = await stackStatus(config, { services: ctx.args.positionals });
  if (ctx.args.values.json === true) ctx.print(JSON.stringify(statuses, null, 2));
  else ctx.print(formatStatus(statuses, ctx.out));
  return statuses.every(isUp) ? 0 : 3;
}

/** What a change line reports: state, health, pid and restarts (not every CPU or memory tick). */
function changeKey(s: ServiceStatus): string {
  return `${s.state}|${s.health}|${s.pid}|${s.restarts}`;
}

function changeLine(s: ServiceStatus): string {
  const health = s.health === null ? '' : ` health ${s.health}`;
  return `${new Date().toISOString()} ${s.name}: ${s.state}${s.pid === null ? '' : ` pid ${s.pid}`}${health} restarts ${s.restarts}`;
}

/**
 * `status --watch`: on a terminal, the table redrawn once a second (like `pm2
 * monit` or process-compose's list); elsewhere, a line whenever a service's
 * state, health, pid or restart count changes. `q`, Ctrl-C or SIGTERM end it
 * (exit 0).
 */
async function watchStatus(ctx: CommandContext, config: ResolvedConfig): Promise<number> {
  const stop = onStopSignals(ctx.io.signals, ctx.io.outputClosed);
  const tty = ctx.io.stdout.isTTY === true;
  const ended = new AbortController();
  const quit = (key: Buffer) => {
    if (key.toString() === 'q' || key[0] === 3) ended.abort();
  };
  const stdin = process.stdin;
  if (tty && stdin.isTTY) {
    stdin.setRawMode(true);
    stdin.on('data', quit);
  }
  const done = AbortSignal.any([stop.graceful, ended.signal]);
  const seen = new Map<string, string>();
  try {
    while (!done.aborted) {
      const statuses = await stackStatus(config, { services: ctx.args.positionals });
      if (tty) {
        ctx.io.stdout.write('\u001b[H\u001b[2J');
        ctx.print([
          ...formatStatus(statuses, ctx.out),
          '',
          ctx.out.dim(`${new Date().toLocaleTimeString()} · q or Ctrl-C to quit`),
        ]);
      } else {
        for (const s of statuses) {
          if (seen.get(s.name) === changeKey(s)) continue;
          seen.set(s.name, changeKey(s));
          ctx.print(changeLine(s));
        }
      }
      await delay(1000, done);
    }
    return 0;
  } finally {
    if (tty && stdin.isTTY) {
      stdin.off('data', quit);
      stdin.setRawMode(false);
      stdin.pause();
    }
    stop.dispose();
  }
}
