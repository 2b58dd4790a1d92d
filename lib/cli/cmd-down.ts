import { LaunchError } from '../errors.js';
import { downStack } from '../orchestrate/down.js';
import { formatDown } from '../report/views.js';
import { stopKeeper } from '../session/keeper.js';
import type { CommandContext } from './context.js';

/** `down`: stop services (dependents first), remove records, report. */
export async function down(ctx: CommandContext): Promise<number> {
  const config = await ctx.load();
  const result = await downStack(config, {
    services: ctx.args.positionals,
    noDeps: ctx.args.values['no-deps'] === true,
    force: ctx.args.values.force === true,
  });
  const lines = formatDown(result, ctx.out);
  // The keeper leaves once nothing is left to keep; after a full down it is stopped.
  if (ctx.args.positionals.length === 0) {
    const keeper = await stopKeeper(config);
    if (keeper !== null) lines.push(`${ctx.out.green('✓')} stopped the keeper (pid ${keeper})`);
  }
  if (lines.length > 0) ctx.print(lines);
  if (!result.clean) {
    throw new LaunchError('E_STOP', 'some processes could not be stopped (see above)', {
      hint: 'stop them by hand (they are listed with their PIDs), or run down --force to stop a process of yours that holds a port; then run down again',
    });
  }
  return 0;
}
