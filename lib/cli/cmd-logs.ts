import { once } from 'node:events';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { LaunchError } from '../errors.js';
import { checkNames } from '../orchestrate/select.js';
import { LogFollower } from '../probes/log-follow.js';
import { LinePrefixer } from '../report/prefix.js';
import { servicePaths } from '../state/record.js';
import type { CommandContext } from './context.js';
import { onStopSignals } from './shutdown.js';

/** The last `n` lines of a file (reads at most the last 1 MiB), or null if it does not exist. */
export function lastLines(file: string, n: number): string[] | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 1024 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const lines = buffer.toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return n === 0 ? [] : lines.slice(-n);
  } finally {
    closeSync(fd);
  }
}

/** `logs [-f] [-n N] [service...]`: the end of each log, prefixed; `-f` follows until Ctrl-C. */
export async function logs(ctx: CommandContext): Promise<number> {
  const config = await ctx.load();
  checkNames(config, ctx.args.positionals);
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
  for (const name of names) {
    const lines = lastLines(servicePaths(config.pidDir, name).log, n);
    if (lines === null) prefixer.push(name, `${ctx.out.dim('(no log yet)')}\n`);
    else for (const line of lines) prefixer.push(name, `${line}\n`);
  }
  if (ctx.args.values.follow !== true) return 0;
  const stop = onStopSignals(ctx.io.signals);
  const followers = names.map((name) => {
    const file = servicePaths(config.pidDir, name).log;
    let follower: LogFollower | null = null;
    const open = () => {
      try {
        follower ??= new LogFollower(file, lastSize(file));
      } catch {
        // no log yet: try again on the next tick
      }
      return follower;
    };
    open();
    return { name, open };
  });
  const tick = () => {
    for (const f of followers)
      for (const line of f.open()?.read() ?? []) prefixer.push(f.name, `${line}\n`);
  };
  const timer = setInterval(tick, 200);
  const removals = followers.map((f) => f.open()?.onChange(tick));
  try {
    await once(stop.graceful, 'abort');
  } finally {
    clearInterval(timer);
    for (const r of removals) r?.();
    for (const f of followers) f.open()?.close();
    stop.dispose();
  }
  return 0;
}

function lastSize(file: string): number {
  try {
    const fd = openSync(file, 'r');
    try {
      return fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  } catch {
    return 0;
  }
}
