import { runKeeper } from '../session/keeper.js';
import type { CommandContext } from './context.js';
import { onStopSignals } from './shutdown.js';

/**
 * `keeper <stack>`: the keeper of a detached stack (see `session/keeper.ts`).
 * `up -d` starts it; started by hand, it adopts the running detached
 * services of the stack. SIGTERM (or Ctrl-C) ends it and leaves every
 * service running.
 */
export async function keeper(ctx: CommandContext): Promise<number> {
  const config = await ctx.load();
  const stop = onStopSignals(ctx.io.signals);
  try {
    return await runKeeper(config, stop.graceful);
  } finally {
    stop.dispose();
  }
}
