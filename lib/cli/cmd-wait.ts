import { LaunchError } from '../errors.js';
import { formatDuration, parseDuration } from '../format.js';
import { waitService } from '../query/wait.js';
import type { CommandContext } from './context.js';
import { onStopSignals } from './shutdown.js';

/**
 * `wait [--timeout TIME] [--from-start] <service>`: exit 0 once its readiness
 * check passes, 1 at the timeout. `--from-start`: a log check reads the log
 * from its beginning (an exported unit empties it before the service starts).
 */
export async function wait(ctx: CommandContext): Promise<number> {
  const [name, ...extra] = ctx.args.positionals;
  if (name === undefined || extra.length > 0)
    throw new LaunchError('E_USAGE', "'launchguard wait' takes one service", {
      hint: 'for example: launchguard wait backend',
    });
  const raw = ctx.args.values.timeout;
  const timeout = raw === undefined ? undefined : parseDuration(String(raw));
  if (timeout === null)
    throw new LaunchError('E_USAGE', `--timeout expects a duration, received '${String(raw)}'`, {
      hint: 'milliseconds, or with a unit: launchguard wait --timeout 30s backend',
    });
  const config = await ctx.load();
  const port = Number(ctx.io.env.PORT);
  const stop = onStopSignals(ctx.io.signals, ctx.io.outputClosed);
  try {
    const ready = await waitService(config, name, {
      ...(timeout === undefined ? {} : { timeout }),
      // In a unit's ExecStartPost=, PORT is the service's (for a `port: 'auto'` service).
      ...(Number.isInteger(port) && port > 0 ? { port } : {}),
      ...(ctx.args.values['from-start'] === true ? { fromStart: true } : {}),
      signal: stop.graceful,
    });
    ctx.print(`${ctx.out.green('✓')} ${name}: ready (${formatDuration(ready.ms)})`);
    return 0;
  } finally {
    stop.dispose();
  }
}
