import { isLaunchError } from '../errors.js';
import { signalExitCode } from '../exit.js';
import type { StackEvent } from '../orchestrate/events.js';
import { formatSummary } from '../report/views.js';
import { keeperSupported, startThroughKeeper } from '../session/keeper.js';
import { openSession } from '../session/session.js';
import type { CommandContext } from './context.js';
import { onStopSignals } from './shutdown.js';

/**
 * `up -d` and `restart`: start detached through the stack's keeper (which
 * stays to keep the services), return once every selected service is ready.
 */
export async function upDetached(ctx: CommandContext, replace: boolean): Promise<number> {
  const config = await ctx.load();
  const started = Date.now();
  const progress = ctx.progress('stdout');
  // Ctrl-C while services start: stop what this call began, then exit 128+n.
  const stop = onStopSignals(ctx.io.signals);
  try {
    const request = {
      services: ctx.args.positionals,
      force: ctx.args.values.force === true,
      replace,
    };
    const events = { signal: stop.graceful, onEvent: (e: StackEvent) => progress.event(e) };
    // The keeper starts the services and stays to keep them (see session/keeper.ts); where
    // identities cannot be verified there is none, and the start refuses as it always did.
    const up = keeperSupported()
      ? await startThroughKeeper(config, request, { ...events, child: ctx.io.keeper })
      : (await openSession(config, { ...request, detach: true, ...events })).up;
    progress.done();
    ctx.print(formatSummary(config, up, Date.now() - started, ctx.out));
    return 0;
  } catch (error) {
    const sig = stop.first();
    if (sig === undefined || !isLaunchError(error) || error.code !== 'E_ABORTED') throw error;
    progress.done();
    ctx.print(
      `${ctx.out.yellow('!')} interrupted (${sig}): everything this start began was stopped again`,
    );
    return signalExitCode(sig);
  } finally {
    progress.done();
    stop.dispose();
  }
}
