import { userInfo } from 'node:os';
import { join } from 'node:path';
import { LaunchError } from '../errors.js';
import { escapeControls, hasNonCharacter } from '../format.js';
import type { ExportedService, ExportedStack } from './model.js';
import { envFileText } from './secrets.js';

/**
 * systemd units for a stack: `<stack>-<service>.service` per service and a
 * `<stack>.target` that wants them all (`systemctl start <stack>.target`).
 *
 * - `ExecStart=` runs the absolute program in `WorkingDirectory=`, with
 *   `Environment=` the service's whole environment: the config's env (env
 *   files merged in at export time: systemd's `EnvironmentFile=` would give
 *   them the last word, against launchguard's order), `PORT`, every
 *   `<NAME>_PORT` and the stack's marker, by which launchguard recognises the
 *   unit's processes as the running instance (`up` keeps them, `down` leaves
 *   them to `systemctl`).
 * - The unit takes over: `ExecStartPre=-launchguard down --no-deps <service>`
 *   stops an instance launchguard started by hand (verified, as `down` always
 *   does; its dependents keep running), so `systemctl start` after
 *   `launchguard up -d` does not crash-loop on `EADDRINUSE`.
 * - Readiness as with `up`: `ExecStartPost=launchguard wait <service>`, so a
 *   unit counts as started once its readiness check passes, and a dependent
 *   (`After=` + `Requires=` for `ready` and `completed`, `Wants=` for
 *   `started`) starts only then. A one-shot task is `Type=oneshot` with
 *   `RemainAfterExit=yes`.
 * - `Restart=` from `restart` (back-off 500 ms, `StartLimitBurst` from
 *   `maxRestarts`), `TimeoutStopSec=` from `stopTimeout`, `KillSignal=` from
 *   `stopSignal`, `KillMode=control-group` (the whole tree), and
 *   `TimeoutStartSec=` above `readyTimeout`.
 */

/** Options of {@link systemdUnits}. */
export interface SystemdOptions {
  /** User units (`systemctl --user`, `WantedBy=default.target`) instead of system units. */
  readonly user: boolean;
  /**
   * The sandboxing directives (see {@link hardening}); `--no-hardening` turns
   * them off for a service that needs what they take away. @default true
   */
  readonly hardening?: boolean;
  /** The absolute folder the units are written to: `EnvironmentFile=` names files there. */
  readonly dir: string;
}

/** The name of a service's 0600 secrets file (values from env files), beside its unit. */
function systemdSecretsName(stack: string, service: string): string {
  return `${stack}-${service}.env`;
}

/** A word of an `Exec*=` line: bare when plain, else double-quoted; `%` and `$` escaped. */
function execWord(word: string): string {
  const escaped = word.replaceAll('%', '%%').replaceAll('$', '$$$$');
  if (/^[A-Za-z0-9_@+=:,./-]+$/.test(escaped)) return escaped;
  return `"${quoted(escaped)}"`;
}

/**
 * The inside of a double-quoted unit-file word: backslash and quote escaped,
 * and every control character (a line break ends a directive: `\r` or `\n`
 * in a value would start a new one) as a C escape systemd reads back. NUL
 * cannot be carried in a unit file at all: refused.
 */
function quoted(text: string): string {
  if (text.includes('\0') || hasNonCharacter(text))
    throw new LaunchError(
      'E_CONFIG',
      'a value holds a NUL, a lone surrogate or a Unicode noncharacter, which a unit file cannot carry (systemd would drop the whole line)',
      {
        hint: 'remove it from the config (env values, command, paths)',
      },
    );
  return escapeControls(text.replaceAll('\\', '\\\\').replaceAll('"', '\\"'));
}

/** One `Environment=` assignment, quoted. */
function envWord(key: string, value: string): string {
  return `"${quoted(`${key}=${value}`.replaceAll('%', '%%'))}"`;
}

/**
 * A path as a whole directive value (`WorkingDirectory=`, `ReadWritePaths=`,
 * `append:`): taken literally up to the line's end, so spaces, non-ASCII and
 * `$` stay as they are (quotes would make it "not absolute"); only `%`
 * (a specifier) is doubled. A control character cannot be written, nor a
 * space or a backslash at the end (systemd trims the one, and reads the
 * other as a line continuation): refused.
 */
function pathValue(path: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(path) || /[ \t\\]$/.test(path) || hasNonCharacter(path))
    throw new LaunchError(
      'E_CONFIG',
      `the path ${JSON.stringify(path)} holds a control character or ends in a space or a backslash, which a unit file cannot carry`,
      {
        hint: 'move the project to a folder whose path has no line breaks or tabs, and ends in no space',
      },
    );
  return path.replaceAll('%', '%%');
}

/** A path among several in one directive (`ReadWritePaths=`): quoted when it has a space. */
function pathWord(path: string): string {
  const value = pathValue(path);
  return /[\s"'\\]/.test(value) ? `"${quoted(value)}"` : value;
}

/** `1500` → `1500ms`: every duration in milliseconds, as the config gives them. */
function ms(value: number): string {
  return `${Math.ceil(value)}ms`;
}

/** The unit name of a service of `stack`. */
function serviceUnit(stack: string, service: string): string {
  return `${stack}-${service}.service`;
}

const RESTART = { no: 'no', 'on-failure': 'on-failure', always: 'always' } as const;

/** Folders under which `ProtectHome=yes` would hide the project: there it is read-only instead. */
const HOMES = ['/home/', '/root/', '/run/user/'];

/**
 * The sandbox of a unit, on by default: the service sees the file system
 * read-only except its project and the state folder, has no devices, no
 * kernel tunables, no new privileges, its own /tmp, native system calls of
 * ordinary services only, and no capabilities unless its port is below 1024
 * (then only `CAP_NET_BIND_SERVICE`). Not `MemoryDenyWriteExecute=` (Node's
 * JIT needs writable code pages) nor `ProcSubset=pid` (launchguard's own
 * `wait` reads /proc/sys for the boot id). `systemd-analyze security` rates
 * the demo's units in the README.
 */
function hardening(stack: ExportedStack, svc: ExportedService): string[] {
  const paths = [...new Set([stack.root, stack.pidDir, svc.cwd])];
  const inHome = [...paths, svc.program].some((p) => HOMES.some((h) => `${p}/`.startsWith(h)));
  const lowPort = svc.port !== null && svc.port < 1024;
  // A private /tmp would hide a project that lives in /tmp or /var/tmp.
  const inTmp = [...paths, svc.program].some((p) => /^\/(var\/)?tmp\//.test(`${p}/`));
  return [
    '# Sandbox (launchguard export --no-hardening leaves it out)',
    'NoNewPrivileges=yes',
    `PrivateTmp=${inTmp ? 'no' : 'yes'}`,
    'PrivateDevices=yes',
    'ProtectSystem=strict',
    `ProtectHome=${inHome ? 'read-only' : 'yes'}`,
    `ReadWritePaths=${paths.map(pathWord).join(' ')}`,
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'ProtectProc=invisible',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    'LockPersonality=yes',
    'RemoveIPC=yes',
    'KeyringMode=private',
    'SystemCallArchitectures=native',
    'SystemCallFilter=@system-service',
    'SystemCallErrorNumber=EPERM',
    `CapabilityBoundingSet=${lowPort ? 'CAP_NET_BIND_SERVICE' : ''}`,
    ...(lowPort ? ['AmbientCapabilities=CAP_NET_BIND_SERVICE'] : []),
    'UMask=0077',
  ];
}

/** The lines that start the service and wait for it (readiness, the log). */
function startLines(stack: ExportedStack, svc: ExportedService): string[] {
  const lg = (...args: string[]) =>
    [...stack.launcher, '-c', stack.configFile, ...args].map(execWord).join(' ');
  const logCheck = svc.probe?.kind === 'log';
  return [
    // The unit takes over: an instance launchguard started by hand is stopped first (only
    // this service; '-': if that fails, the start goes on and the service's own error shows).
    `ExecStartPre=-${lg('down', '--no-deps', svc.name)}`,
    // A log check reads this instance's output only: the log starts empty.
    ...(logCheck
      ? [`ExecStartPre=${['/bin/sh', '-c', ': > "$1"', 'sh', svc.logFile].map(execWord).join(' ')}`]
      : []),
    `ExecStart=${[svc.program, ...svc.args].map(execWord).join(' ')}`,
    ...(svc.task || svc.probe === null
      ? []
      : [`ExecStartPost=${lg('wait', ...(logCheck ? ['--from-start'] : []), svc.name)}`]),
    // Its output goes to launchguard's log, as with up -d: `launchguard logs` and a log check read it.
    `StandardOutput=append:${pathValue(svc.logFile)}`,
    `StandardError=append:${pathValue(svc.logFile)}`,
  ];
}

function serviceUnitText(
  stack: ExportedStack,
  svc: ExportedService,
  options: SystemdOptions,
): string {
  const needs = svc.dependsOn
    .filter((d) => d.condition !== 'started')
    .map((d) => serviceUnit(stack.name, d.name));
  const wants = svc.dependsOn
    .filter((d) => d.condition === 'started')
    .map((d) => serviceUnit(stack.name, d.name));
  const user = userInfo();
  const secrets = Object.keys(svc.secretEnv).length > 0;
  const lines = [
    '# Generated by launchguard; export again after changing the config.',
    '[Unit]',
    `Description=${stack.name}: ${svc.name} (launchguard export)`,
    `PartOf=${stack.name}.target`,
    ...(needs.length > 0 ? [`After=${needs.join(' ')}`, `Requires=${needs.join(' ')}`] : []),
    ...(wants.length > 0 ? [`Wants=${wants.join(' ')}`] : []),
    'StartLimitIntervalSec=60',
    `StartLimitBurst=${svc.maxRestarts + 1}`,
    '',
    '[Service]',
    ...(svc.health === null
      ? []
      : [
          '# health (liveness) is not mapped: systemd has no liveness check of its own (WatchdogSec= needs sd_notify from the service)',
        ]),
    ...(svc.task ? ['Type=oneshot', 'RemainAfterExit=yes'] : ['Type=simple']),
    ...startLines(stack, svc),
    `WorkingDirectory=${pathValue(svc.cwd)}`,
    ...Object.entries(svc.env).map(([k, v]) => `Environment=${envWord(k, v)}`),
    ...(secrets
      ? [
          '# Values from env files: in a 0600 file beside this unit, never in it',
          `EnvironmentFile=${pathValue(join(options.dir, systemdSecretsName(stack.name, svc.name)))}`,
        ]
      : []),
    ...(!options.user && user.uid !== 0 ? [`User=${user.username}`] : []),
    `Restart=${svc.task ? 'no' : RESTART[svc.restart]}`,
    'RestartSec=500ms',
    `TimeoutStartSec=${ms(svc.readyTimeout + 10_000)}`,
    `TimeoutStopSec=${ms(svc.stopTimeout)}`,
    `KillSignal=${svc.stopSignal}`,
    'KillMode=control-group',
    ...(options.hardening === false ? [] : hardening(stack, svc)),
    '',
    '[Install]',
    `WantedBy=${stack.name}.target`,
    '',
  ];
  return lines.join('\n');
}

function targetText(stack: ExportedStack, options: SystemdOptions): string {
  const units = stack.services.map((s) => serviceUnit(stack.name, s.name));
  return [
    `# Generated by launchguard: systemctl${options.user ? ' --user' : ''} start ${stack.name}.target`,
    '[Unit]',
    `Description=${stack.name} (launchguard export): ${stack.services.map((s) => s.name).join(', ')}`,
    `Wants=${units.join(' ')}`,
    '',
    '[Install]',
    `WantedBy=${options.user ? 'default.target' : 'multi-user.target'}`,
    '',
  ].join('\n');
}

/** The unit files of a stack (file name → content), and the 0600 secrets files they name. */
export function systemdUnits(
  stack: ExportedStack,
  options: SystemdOptions,
): { readonly units: Map<string, string>; readonly secrets: Map<string, string> } {
  const units = new Map<string, string>();
  const secrets = new Map<string, string>();
  for (const svc of stack.services) {
    units.set(serviceUnit(stack.name, svc.name), serviceUnitText(stack, svc, options));
    if (Object.keys(svc.secretEnv).length > 0)
      secrets.set(
        systemdSecretsName(stack.name, svc.name),
        envFileText(svc.secretEnv, svc.name, 'systemd'),
      );
  }
  units.set(`${stack.name}.target`, targetText(stack, options));
  return { units, secrets };
}
