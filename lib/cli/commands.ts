import type { ParseArgsConfig } from 'node:util';

type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & {
  description: string;
  value?: string;
};

/** One CLI command: its usage, summary, own options, and whether it takes positionals. */
export interface CommandSpec {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly positionals: boolean;
  readonly examples?: readonly string[];
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  config: {
    type: 'string',
    short: 'c',
    value: 'FILE',
    description: 'config file (default: launch.config.{ts,mts,js,mjs} here or in a parent folder)',
  },
  debug: { type: 'boolean', description: 'show stack traces of errors' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
  version: { type: 'boolean', short: 'V', description: 'print the version' },
};

/** Every command, in the order the help lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'up',
    usage: 'up [options] [service...]',
    summary: 'start services (with their dependencies); foreground: Ctrl-C stops what it started',
    positionals: true,
    options: {
      detach: {
        type: 'boolean',
        short: 'd',
        description: 'start detached; return once every service is ready',
      },
      force: {
        type: 'boolean',
        description: "also stop a foreign process that holds a service's port",
      },
      replace: { type: 'boolean', description: 'replace services that are already running' },
    },
    examples: ['launchguard up', 'launchguard up -d backend'],
  },
  {
    name: 'down',
    usage: 'down [--no-deps] [--force] [service...]',
    summary: 'stop services (dependents first) and remove their records',
    positionals: true,
    options: {
      'no-deps': {
        type: 'boolean',
        description: 'stop only the named services, not the services that depend on them',
      },
      force: {
        type: 'boolean',
        description: "also stop a process of yours still holding a stopped service's port",
      },
    },
  },
  {
    name: 'keeper',
    usage: 'keeper [stack]',
    summary:
      "keep a detached stack alive (up -d starts it; by hand it adopts the stack's running services)",
    positionals: true,
    options: {},
  },
  {
    name: 'status',
    usage: 'status [--json] [--watch] [service...]',
    summary: 'state, PID, port owner, health, uptime, CPU, memory and duplicates of each service',
    positionals: true,
    options: {
      json: { type: 'boolean', description: 'print JSON instead of a table' },
      watch: {
        type: 'boolean',
        short: 'w',
        description:
          'a live view: the table once a second on a terminal, a line per change elsewhere; q or Ctrl-C ends it',
      },
    },
  },
  {
    name: 'run',
    usage: 'run [options] [--] command...',
    summary: "start the stack, run a command with the services' ports in its env, stop the stack",
    positionals: true,
    options: {
      service: {
        type: 'string',
        short: 's',
        multiple: true,
        value: 'NAME',
        description: 'start only this service (and its dependencies); repeatable',
      },
    },
    examples: ['launchguard run -- npm test'],
  },
  {
    name: 'restart',
    usage: 'restart [service...]',
    summary: 'stop and start services again',
    positionals: true,
    options: {},
  },
  {
    name: 'logs',
    usage: 'logs [-f] [-t] [-n N] [service...]',
    summary: "show services' log files",
    positionals: true,
    options: {
      follow: { type: 'boolean', short: 'f', description: 'keep printing new lines' },
      timestamps: {
        type: 'boolean',
        short: 't',
        description: 'show when each line was written (where a launcher saw it)',
      },
      lines: {
        type: 'string',
        short: 'n',
        value: 'N',
        description: 'lines to show from the end of each log (default 50)',
      },
    },
  },
  {
    name: 'wait',
    usage: 'wait [--timeout TIME] [--from-start] service',
    summary: "wait until a service's readiness check passes (exit 1 at the timeout)",
    positionals: true,
    options: {
      'from-start': {
        type: 'boolean',
        description:
          'a log check reads the whole log (a unit empties it first: ExecStartPost= of an export)',
      },
      timeout: {
        type: 'string',
        value: 'TIME',
        description: "longest wait: ms, or 500ms, 30s, 2m (default: the service's readyTimeout)",
      },
    },
    examples: ['launchguard wait backend'],
  },
  {
    name: 'export',
    usage:
      'export systemd -o DIR [--user] [--no-hardening] | export compose [-o FILE] | export kubernetes [-o FILE|DIR] [--namespace NS]',
    summary: 'write the stack as systemd units, a Compose file or Kubernetes manifests',
    positionals: true,
    options: {
      output: {
        type: 'string',
        short: 'o',
        value: 'PATH',
        description:
          'systemd: the folder for the units (required); compose, kubernetes: the file or folder (default: stdout, when no env file holds secrets)',
      },
      user: { type: 'boolean', description: 'systemd: user units (systemctl --user)' },
      'no-hardening': {
        type: 'boolean',
        description: 'systemd: leave the sandbox directives out',
      },
      namespace: {
        type: 'string',
        value: 'NS',
        description: 'kubernetes: the namespace of every object',
      },
    },
    examples: [
      'launchguard export systemd -o ./units',
      'launchguard export compose -o compose.yaml',
      'launchguard export kubernetes -o k8s/ --namespace shop',
    ],
  },
  {
    name: 'validate',
    usage: 'validate',
    summary:
      'check the config and print the plan: start order, commands, ports, checks, stop order',
    positionals: false,
    options: {},
  },
];

/** The command spec by name, or undefined. */
export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
