import { expect } from 'chai';
import fc from 'fast-check';
import { parse, parseAllDocuments } from 'yaml';
import type { ResolvedProbe } from '../../lib/config/types.js';
import { isLaunchError } from '../../lib/errors.js';
import { composeFile } from '../../lib/export/compose.js';
import { kubernetesManifests, kubernetesYaml } from '../../lib/export/kubernetes.js';
import type { ExportedService, ExportedStack } from '../../lib/export/model.js';
import { systemdUnits } from '../../lib/export/systemd.js';
import { hasNonCharacter } from '../../lib/format.js';
import { environment, execArgv, parseUnit } from '../helpers/unit-file.js';

/**
 * Property tests of the exporters: for arbitrary strings in every field a
 * config controls (env keys' values, commands, paths, names, patterns,
 * images), the file parses back to exactly the intended structure, or the
 * export refuses with E_CONFIG (a NUL, or a control character in a path).
 * 1000 generated stacks per exporter.
 */

const RUNS = 1000;

/** Strings that break formats, mixed with any code points. */
const nasty = fc.string({
  unit: fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '\n',
        '\r',
        '\0',
        '\t',
        '\x7f',
        '\u0085',
        '\u2028',
        '\u2029',
        '\ufeff',
        '\ufffe',
        '\ufdd0',
        '\ud800',
        '\u{1fffe}',
        '"',
        "'",
        '\\',
        '$',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose's interpolation, on purpose
        '${PORT}',
        '$$',
        '%',
        '%n',
        '#',
        ';',
        ':',
        ' ',
        '[Service]',
        'ExecStart=/bin/evil',
        '\nprivileged: true\n',
        '- ',
        '{',
        '}',
        '&a',
        '*a',
        '!!',
        '---',
      ),
    },
  ),
  maxLength: 12,
});

const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,10}$/);
const envKey = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
const path = nasty.map((s) => `/${s}`);

const probe: fc.Arbitrary<ResolvedProbe | null> = fc.oneof(
  fc.constant(null),
  fc.record({
    kind: fc.constant('tcp' as const),
    port: fc.integer({ min: 1, max: 65535 }),
    interval: fc.constant(100),
  }),
  fc.record({
    kind: fc.constant('http' as const),
    url: fc.webPath().map((p) => `http://127.0.0.1:8080${p.startsWith('/') ? p : `/${p}`}`),
    status: fc.constant('ok' as const),
    interval: fc.constant(100),
  }),
  fc.record({ kind: fc.constant('log' as const), pattern: nasty, interval: fc.constant(100) }),
  fc.record({
    kind: fc.constant('exec' as const),
    argv: fc.array(nasty, { minLength: 1, maxLength: 3 }),
    shell: fc.constant(false),
    interval: fc.constant(100),
  }),
);

const service = fc.record({
  name,
  program: path,
  args: fc.array(nasty, { maxLength: 3 }),
  cwd: path,
  env: fc.dictionary(envKey, nasty, { maxKeys: 3 }),
  secretEnv: fc.dictionary(
    envKey,
    nasty.map((v) => `SECRET-${v}`),
    { maxKeys: 2 },
  ),
  logFile: path,
  port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null }),
  probe,
  task: fc.boolean(),
  image: fc.option(
    nasty.map((s) => `img${s}`),
    { nil: null },
  ),
});

const stack = fc
  .record({
    name,
    root: path,
    pidDir: path,
    services: fc.uniqueArray(service, { minLength: 1, maxLength: 3, selector: (s) => s.name }),
  })
  .map(
    (s): ExportedStack => ({
      name: s.name,
      configFile: `${s.root}/launch.config.ts`,
      root: s.root,
      pidDir: s.pidDir,
      launcher: ['/usr/bin/node', '/opt/launchguard/bin/launchguard.js'],
      pickedPorts: {},
      envFiles: [],
      services: s.services.map(
        (svc, i): ExportedService => ({
          ...svc,
          // keys of secret values never repeat a plain one (as the resolver splits them)
          secretEnv: Object.fromEntries(
            Object.entries(svc.secretEnv).filter(([k]) => !(k in svc.env)),
          ),
          argv: [svc.program, ...svc.args],
          health: null,
          readyTimeout: 30_000,
          stopTimeout: 5000,
          stopSignal: 'SIGTERM',
          restart: 'on-failure',
          maxRestarts: 5,
          dependsOn: s.services.slice(0, i).map((d) => ({ name: d.name, condition: 'ready' })),
          imageAssumed: false,
        }),
      ),
    }),
  );

/** True if the export may refuse this stack (a NUL anywhere, or a control character in a path). */
function refusable(s: ExportedStack): boolean {
  const text = JSON.stringify(s);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point
  const controls = /[\u0000-\u001f\u007f]/;
  const paths = [s.root, s.pidDir, ...s.services.flatMap((v) => [v.cwd, v.logFile])];
  const secrets = s.services.flatMap((v) => Object.values(v.secretEnv));
  const values = s.services.flatMap((v) => [
    v.program,
    ...v.args,
    ...Object.values(v.env),
    ...paths,
  ]);
  return (
    text.includes('\\u0000') ||
    values.some(hasNonCharacter) ||
    paths.some((p) => controls.test(p) || /[ \t\\]$/.test(p)) ||
    secrets.some((v) => controls.test(v) || v.includes("'") || v.includes('${'))
  );
}

/** Runs an export; a refusal must be E_CONFIG on a refusable stack. Returns null when refused. */
function attempt<T>(s: ExportedStack, run: () => T): T | null {
  try {
    return run();
  } catch (error) {
    expect(isLaunchError(error) && error.code === 'E_CONFIG', String(error)).to.equal(true);
    expect(refusable(s), `refused a stack it can carry: ${String(error)}`).to.equal(true);
    return null;
  }
}

const SERVICE_KEYS = new Set([
  'Type',
  'RemainAfterExit',
  'ExecStartPre',
  'ExecStart',
  'ExecStartPost',
  'StandardOutput',
  'StandardError',
  'WorkingDirectory',
  'Environment',
  'EnvironmentFile',
  'User',
  'Restart',
  'RestartSec',
  'TimeoutStartSec',
  'TimeoutStopSec',
  'KillSignal',
  'KillMode',
  'NoNewPrivileges',
  'PrivateTmp',
  'PrivateDevices',
  'ProtectSystem',
  'ProtectHome',
  'ReadWritePaths',
  'ProtectKernelTunables',
  'ProtectKernelModules',
  'ProtectKernelLogs',
  'ProtectControlGroups',
  'ProtectClock',
  'ProtectHostname',
  'ProtectProc',
  'RestrictNamespaces',
  'RestrictRealtime',
  'RestrictSUIDSGID',
  'RestrictAddressFamilies',
  'LockPersonality',
  'RemoveIPC',
  'KeyringMode',
  'SystemCallArchitectures',
  'SystemCallFilter',
  'SystemCallErrorNumber',
  'CapabilityBoundingSet',
  'AmbientCapabilities',
  'UMask',
]);

describe('unit: exports that no value breaks out of (property tests, fast-check)', () => {
  it(`systemd: ${RUNS} stacks parse back to exactly their commands, env and paths`, () => {
    fc.assert(
      fc.property(stack, (s) => {
        const out = attempt(s, () => systemdUnits(s, { user: false, dir: '/srv/units' }));
        if (out === null) return;
        for (const svc of s.services) {
          const text = out.units.get(`${s.name}-${svc.name}.service`) as string;
          const d = parseUnit(text);
          const service = d.filter((x) => x.section === 'Service');
          expect(new Set(d.map((x) => x.section))).to.deep.equal(
            new Set(['Unit', 'Service', 'Install']),
          );
          for (const x of service) expect(SERVICE_KEYS, x.key).to.include(x.key);
          const starts = service.filter((x) => x.key === 'ExecStart');
          expect(starts).to.have.length(1);
          expect(execArgv(starts[0]?.value as string)).to.deep.equal([svc.program, ...svc.args]);
          expect(environment(d)).to.deep.equal(svc.env);
          const wd = service.find((x) => x.key === 'WorkingDirectory')?.value;
          expect(wd?.replaceAll('%%', '%')).to.equal(svc.cwd);
          expect(service.filter((x) => x.key === 'EnvironmentFile')).to.have.length(
            Object.keys(svc.secretEnv).length > 0 ? 1 : 0,
          );
          expect(text).not.to.include('SECRET-');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it(`Compose: ${RUNS} stacks parse back (the yaml package) to exactly the intended services`, () => {
    fc.assert(
      fc.property(stack, (s) => {
        const out = attempt(s, () => composeFile(s));
        if (out === null) return;
        const doc = parse(out.text) as { services: Record<string, Record<string, unknown>> };
        expect(Object.keys(doc)).to.deep.equal(['services']);
        expect(Object.keys(doc.services).sort()).to.deep.equal(
          s.services.map((v) => v.name).sort(),
        );
        expect(out.text, 'YAML 1.1 words are quoted as keys').not.to.match(
          /^\s*(y|yes|n|no|true|false|on|off|null):/im,
        );
        const $$ = (v: string) => v.replaceAll('$', () => '$$');
        for (const svc of s.services) {
          const got = doc.services[svc.name] as Record<string, unknown>;
          const allowed = [
            'image',
            'working_dir',
            'volumes',
            'command',
            'environment',
            'env_file',
            'ports',
            'healthcheck',
            'depends_on',
            'restart',
          ];
          for (const key of Object.keys(got)) expect(allowed).to.include(key);
          expect(got.command).to.deep.equal(svc.argv.map($$));
          expect(got.working_dir).to.equal($$(svc.cwd));
          expect(got.environment).to.deep.equal(
            Object.fromEntries(Object.entries(svc.env).map(([k, v]) => [k, $$(v)])),
          );
          expect(got.image).to.equal(svc.image === null ? undefined : $$(svc.image));
          expect(out.text).not.to.include('SECRET-');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it(`Kubernetes: ${RUNS} stacks parse back to exactly the objects built`, () => {
    fc.assert(
      fc.property(stack, (s) => {
        const withImages: ExportedStack = {
          ...s,
          services: s.services.map((v) => ({ ...v, image: v.image ?? 'img' })),
        };
        const out = attempt(withImages, () => kubernetesManifests(withImages));
        if (out === null) return;
        const text = kubernetesYaml(out.objects, ['header']);
        const docs = parseAllDocuments(text);
        const plain = (o: unknown) =>
          JSON.parse(JSON.stringify(o, (k, v) => (k === '#' ? undefined : v)));
        expect(docs.map((d) => d.toJS())).to.deep.equal(out.objects.map(plain));
        expect(text).not.to.include('SECRET-');
      }),
      { numRuns: RUNS },
    );
  });
});
