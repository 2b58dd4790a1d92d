import { assertNames } from '../config/select.js';
import { LaunchError } from '../errors.js';
import { followLogs, invalidLogError, logTails } from '../query/logs.js';
import { LinePrefixer } from '../report/prefix.js';
import type { CommandContext } from './context.js';
import { onStopSignals } from './shutdown.js';

/** `logs [-f] [-n N] [service...]`: the end of each log, prefixed; `-f` follows until Ctrl-C. */
export async function logs(ctx: CommandContext): Promise<number> {
  const config = await ctx.load();
  assertNames(config, ctx.args.positionals);
  const names =
    ctx.args.positionals.length > 0 ? ctx.args.positionals : Object.keys(config.services);
  const raw = ctx.args.values.lines;
  const n = raw === undefined ? 50 : Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new LaunchError(
      'E_USAGE',
      `-n expects a whole number of lines, received '${String(raw)}'`,
      {
        hint: 'for example: launchguard logs -n 100 backend',
      },
    );
  const prefixer = new LinePrefixer(names, ctx.out, (line) => ctx.print(line));
  const tails = logTails(config, names, n);
  for (const tail of tails) {
    if (tail.kind === 'missing') prefixer.push(tail.service, `${ctx.out.dim('(no log yet)')}\n`);
    if (tail.kind === 'ok') for (const line of tail.lines) prefixer.push(tail.service, `${line}\n`);
  }
  const invalid = invalidLogError(tails);
  if (invalid !== null) throw invalid;
  if (ctx.args.values.follow !== true) return 0;
  const stop = onStopSignals(ctx.io.signals, ctx.io.outputClosed);
  try {
    await followLogs(
      config,
      names,
      (name, line) => prefixer.push(name, `${line}\n`),
      stop.graceful,
    );
  } finally {
    stop.dispose();
  }
  return 0;
}
