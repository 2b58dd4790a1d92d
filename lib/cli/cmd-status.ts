import { isUp, stackStatus } from '../query/status.js';
import { formatStatus } from '../report/views.js';
import type { CommandContext } from './context.js';

/** `status`: the table (or JSON); exit 3 unless every selected service runs and is ready (a task: completed). */
export async function status(ctx: CommandContext): Promise<number> {
  const config = await ctx.load();
  const statuses = await stackStatus(config, { services: ctx.args.positionals });
  if (ctx.args.values.json === true) ctx.print(JSON.stringify(statuses, null, 2));
  else ctx.print(formatStatus(statuses, ctx.out));
  return statuses.every(isUp) ? 0 : 3;
}
