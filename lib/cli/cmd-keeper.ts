import { phase } from '../phase.js';
import { keeperRequest, runKeeper } from '../session/keeper.js';
import type { CommandContext } from './context.js';
import { onStopSignals } from './shutdown.js';

/**
 * `keeper <stack>`: the keeper of a detached stack (see `session/keeper.ts`).
 * `up -d` starts it and sends its request with the config it loaded;
 * started by hand, it loads the config and adopts the running detached
 * services of the stack. SIGTERM (or Ctrl-C) ends it and leaves every
 * service running.
 */
export async function keeper(ctx: CommandContext): Promise<number> {
  const asked = await keeperRequest();
  if (asked === 'none') return 0; // the CLI that spawned it failed first
  let config = asked?.config;
  if (config === undefined) config = await ctx.load();
  else phase('config');
  const stop = onStopSignals(ctx.io.signals);
  try {
    return await runKeeper(config, stop.graceful, asked?.request ?? null);
  } finally {
    stop.dispose();
  }
}
