import { assertNames } from '../config/select.js';
import { LaunchError } from '../errors.js';
import { followLogs, invalidLogError, logTails } from '../query/logs.js';
import { LinePrefixer } from '../report/prefix.js';
import type { CommandContext } from './context.js';
import { onStopSignals } from './shutdown.js';

/**
 * `logs [-f] [-t] [-n N] [service...]`: the end of each log, prefixed; `-f`
 * follows until Ctrl-C. `-t` puts the time each line was written before it
 * (as `docker compose logs -t`), where the foreground launcher or the keeper
 * saw it written (see `state/logtimes.ts`); a line nobody saw gets a blank
 * column. Followed lines get the time they were read (within ~200 ms).
 */
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
  const stamp = ctx.args.values.timestamps === true ? timeColumn : () => '';
  const tails = logTails(config, names, n);
  for (const tail of tails) {
    if (tail.kind === 'missing') prefixer.push(tail.service, `${ctx.out.dim('(no log yet)')}\n`);
    if (tail.kind === 'ok')
      tail.lines.forEach((line, i) => {
        prefixer.push(tail.service, `${stamp(tail.times[i] ?? null)}${line}\n`);
      });
  }
  const invalid = invalidLogError(tails);
  if (invalid !== null) throw invalid;
  if (ctx.args.values.follow !== true) return 0;
  const stop = onStopSignals(ctx.io.signals, ctx.io.outputClosed);
  try {
    await followLogs(
      config,
      names,
      (name, line) => prefixer.push(name, `${stamp(Date.now())}${line}\n`),
      stop.graceful,
    );
  } finally {
    stop.dispose();
  }
  return 0;
}

/** The `-t` column: an ISO time and a space, or as many spaces where the time is unknown. */
function timeColumn(at: number | null): string {
  return at === null ? ' '.repeat(25) : `${new Date(at).toISOString()} `;
}
