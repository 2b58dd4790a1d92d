import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LaunchError } from '../errors.js';
import { composeFile } from '../export/compose.js';
import { exportModel } from '../export/model.js';
import { systemdUnits } from '../export/systemd.js';
import type { CommandContext } from './context.js';

const FORMATS = ['systemd', 'compose'] as const;

function usage(message: string): LaunchError {
  return new LaunchError('E_USAGE', message, {
    hint: 'launchguard export systemd -o DIR [--user] | launchguard export compose [-o FILE]',
  });
}

/** `export systemd -o DIR [--user]` or `export compose [-o FILE]`. */
export async function exportStack(ctx: CommandContext): Promise<number> {
  const [format, ...extra] = ctx.args.positionals;
  if (format === undefined || extra.length > 0 || !FORMATS.includes(format as never))
    throw usage(`'launchguard export' takes a format: ${FORMATS.join(' or ')}`);
  const output = ctx.args.values.output;
  if (format === 'systemd' && typeof output !== 'string')
    throw usage('export systemd needs -o DIR, the folder for the unit files');
  const config = await ctx.load();
  const stack = await exportModel(config);
  if (format === 'compose') {
    const text = composeFile(stack);
    if (typeof output !== 'string') {
      ctx.io.stdout.write(text);
      return 0;
    }
    writeFileSync(resolve(ctx.io.cwd, output), text);
    ctx.print(
      `${ctx.out.green('✓')} wrote ${resolve(ctx.io.cwd, output)} (${stack.services.length} services)`,
    );
    return 0;
  }
  const user = ctx.args.values.user === true;
  const dir = resolve(ctx.io.cwd, output as string);
  mkdirSync(dir, { recursive: true });
  const files = systemdUnits(stack, { user });
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  const sudo = user || process.geteuid?.() === 0 ? '' : 'sudo ';
  const ctl = user ? 'systemctl --user' : `${sudo}systemctl`;
  const target = user ? '~/.config/systemd/user/' : '/etc/systemd/system/';
  ctx.print([
    `${ctx.out.green('✓')} wrote ${files.size} units to ${dir}: ${[...files.keys()].join(', ')}`,
    `  install: ${sudo}cp ${dir}/* ${target} && ${ctl} daemon-reload`,
    `  start:   ${ctl} start ${stack.name}.target`,
  ]);
  return 0;
}
