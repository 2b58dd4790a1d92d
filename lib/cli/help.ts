import { formatTable } from '../report/table.js';
import { COMMANDS, type CommandSpec, GLOBAL_OPTIONS } from './commands.js';

function optionRows(options: CommandSpec['options']): string[][] {
  return Object.entries(options).map(([name, spec]) => {
    const short = spec.short === undefined ? '    ' : `-${spec.short}, `;
    const value = spec.value === undefined ? '' : ` ${spec.value}`;
    return [`${short}--${name}${value}`, spec.description];
  });
}

/** The main help text. */
export function mainHelp(version: string): string {
  return [
    `launchguard ${version}: start a stack of local services, each exactly once`,
    '',
    'Usage: launchguard <command> [options]',
    '',
    'Commands:',
    ...formatTable(
      COMMANDS.map((c) => [c.name, c.summary]),
      '  ',
    ),
    '',
    'Options:',
    ...formatTable(optionRows(GLOBAL_OPTIONS), '  '),
    '',
    'Exit codes: 0 success, 1 a service failed, 2 usage or config error,',
    "            3 status: a service is not running and ready; run: the command's own code.",
    '',
    "Run 'launchguard <command> --help' for a command's options.",
  ].join('\n');
}

/** The help text of one command. */
export function commandHelp(spec: CommandSpec): string {
  const lines = [`Usage: launchguard ${spec.usage}`, '', spec.summary, ''];
  const own = optionRows(spec.options);
  if (own.length > 0) lines.push('Options:', ...formatTable(own, '  '), '');
  lines.push('Global options:', ...formatTable(optionRows(GLOBAL_OPTIONS), '  '));
  if (spec.examples !== undefined)
    lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}
