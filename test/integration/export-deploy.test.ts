import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import { parse, parseAllDocuments } from 'yaml';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { systemdUnits } from '../../lib/export/systemd.js';
import { hasNonCharacter } from '../../lib/format.js';
import { runCli } from '../helpers/cli.js';
import { ROOT } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { listenService, makeStack } from '../helpers/stack.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';
import { requireTool } from '../helpers/users.js';

/** Every file an export wrote that anyone may read (not the 0600 secrets files). */
function readable(dir: string): string[] {
  return readdirSync(dir)
    .map((f) => join(dir, f))
    .filter((f) => lstatSync(f).isFile() && (lstatSync(f).mode & 0o044) !== 0);
}

/** A stack with an env file that holds a secret, and env with `$` in it. */
async function withSecrets(): Promise<ResolvedConfig> {
  const root = tempDir();
  writeFileSync(join(root, '.env'), 'DB_PASSWORD=s3cr3t-VALUE-42\nSHARED=from-file\n', {
    mode: 0o600,
  });
  const config = await makeStack(
    {
      api: {
        ...listenService(await freePort()),
        envFile: join(root, '.env'),
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose's interpolation, on purpose
        env: { SHARED: 'from-config', GREETING: 'cost $5 and ${PORT} or $HOME' },
      },
    },
    {},
  );
  return config;
}

describe('export: files to deploy (safe writing, secrets, Compose and Kubernetes)', () => {
  it('refuses an output folder others can write; a link at a unit name is replaced, never followed', async () => {
    const config = await makeStack({ api: listenService(await freePort()) });
    const open = join(tempDir(), 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const refused = await runCli(['export', 'systemd', '-o', open], { cwd: config.root });
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/cannot export to .*open: everyone may write it/);
    expect(readdirSync(open)).to.deep.equal([]);

    const dir = join(tempDir(), 'units');
    mkdirSync(dir);
    const victim = join(tempDir(), 'victim.conf');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(dir, `${config.name}-api.service`));
    const result = await runCli(['export', 'systemd', '-o', dir], { cwd: config.root });
    expect(result.code, result.stderr).to.equal(0);
    expect(readFileSync(victim, 'utf8'), 'the link target is untouched').to.equal('precious\n');
    const unit = lstatSync(join(dir, `${config.name}-api.service`));
    expect(unit.isFile(), 'the link itself was replaced by the unit').to.equal(true);
  });

  it('puts no secret in a unit or Compose file: env file values go to 0600 files they name', async function () {
    requireTool(this, 'systemd-analyze', ['--version']);
    requireTool(this, 'docker-compose', ['version']);
    const config = await withSecrets();
    const units = join(tempDir(), 'units');
    expect((await runCli(['export', 'systemd', '-o', units], { cwd: config.root })).code).to.equal(
      0,
    );
    const out = join(tempDir(), 'deploy');
    const compose = join(out, 'compose.yml');
    const written = await runCli(['export', 'compose', '-o', compose], { cwd: config.root });
    expect(written.code, written.stderr).to.equal(0);
    for (const dir of [units, out])
      for (const file of readable(dir))
        expect(readFileSync(file, 'utf8'), file).not.to.include('s3cr3t-VALUE-42');
    const unitSecrets = join(units, `${config.name}-api.env`);
    const composeSecrets = join(out, 'compose.api.env');
    for (const file of [unitSecrets, composeSecrets]) {
      expect(lstatSync(file).mode & 0o777, file).to.equal(0o600);
      expect(readFileSync(file, 'utf8')).to.include("DB_PASSWORD='s3cr3t-VALUE-42'");
    }
    const unit = readFileSync(join(units, `${config.name}-api.service`), 'utf8');
    expect(unit).to.include(`EnvironmentFile=${unitSecrets}`);
    expect(unit, 'the config overrides a file value: inline').to.include('"SHARED=from-config"');
    const verify = spawnSync(
      'systemd-analyze',
      [
        'verify',
        '--man=no',
        join(units, `${config.name}-api.service`),
        join(units, `${config.name}.target`),
      ],
      { encoding: 'utf8' },
    );
    expect(verify.status, verify.stderr).to.equal(0);
    // Compose reads the env file: the value reaches the service as written
    const check = spawnSync('docker-compose', ['-f', compose, 'config'], {
      encoding: 'utf8',
      cwd: out,
      env: { ...process.env, PORT: '9999', HOME: '/nowhere' },
    });
    expect(check.status, check.stderr).to.equal(0);
    expect(check.stderr, 'no interpolation warning').not.to.match(/variable is not set/i);
    const env = (
      parse(check.stdout) as { services: { api: { environment: Record<string, string> } } }
    ).services.api.environment;
    const literal = (v: string) => v.replaceAll('$$', '$');
    expect(literal(env.DB_PASSWORD as string)).to.equal('s3cr3t-VALUE-42');
    expect(
      literal(env.GREETING as string),
      '$ is literal, PORT=9999 in the shell is ignored',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose's interpolation, on purpose
    ).to.equal('cost $5 and ${PORT} or $HOME');
    // Never printed: without -o the export refuses
    const printed = await runCli(['export', 'compose'], { cwd: config.root });
    expect(printed.code).to.equal(2);
    expect(printed.stdout + printed.stderr).not.to.include('s3cr3t-VALUE-42');
  });

  it('a re-export removes the units it wrote that no longer belong, and keeps files it did not write', async () => {
    const config = await makeStack({
      api: listenService(await freePort()),
      worker: { command: ['node', '-e', 'setInterval(() => {}, 1000)'] },
      gone: { command: ['node', '-e', 'setInterval(() => {}, 1000)'] },
    });
    const dir = join(tempDir(), 'units');
    expect((await runCli(['export', 'systemd', '-o', dir], { cwd: config.root })).code).to.equal(0);
    writeFileSync(join(dir, 'notes.txt'), 'mine\n');
    writeFileSync(join(dir, `${config.name}-gone.service`), '# edited by hand\n');
    const file = config.file;
    const text = readFileSync(file, 'utf8');
    const parsed = JSON.parse(text.replace(/^export default /, '').replace(/;\s*$/, '')) as {
      services: Record<string, unknown>;
    };
    delete parsed.services.worker;
    delete parsed.services.gone;
    writeFileSync(file, `export default ${JSON.stringify(parsed)};\n`);
    const again = await runCli(['export', 'systemd', '-o', dir], { cwd: config.root });
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/removed .*-worker\.service/);
    expect(again.stdout).to.match(/kept .*-gone\.service/);
    expect(existsSync(join(dir, `${config.name}-worker.service`))).to.equal(false);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).to.equal('mine\n');
    expect(readFileSync(join(dir, `${config.name}-gone.service`), 'utf8')).to.equal(
      '# edited by hand\n',
    );
    expect(again.stdout, 'the install line names only current units').not.to.match(
      /install:.*worker/,
    );
  });

  it('health checks use a tool the image has: no node check in a non-node image', async () => {
    const config = await makeStack({
      cache: { command: ['redis-server', '--port', '6390'], port: 6390, image: 'redis:7' },
      db: { command: ['postgres', '-p', '5499'], port: 5499, image: 'postgres:16-alpine' },
      api: {
        command: ['/srv/api/bin/server'],
        port: await freePort(),
        image: 'ghcr.io/acme/api:1.2',
        ready: { http: '/health' },
        dependsOn: ['cache', 'db'],
      },
      tool: { command: ['/usr/local/bin/tool'], port: await freePort() },
    });
    const out = join(tempDir(), 'compose.yml');
    const result = await runCli(['export', 'compose', '-o', out], { cwd: config.root });
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stderr).to.match(/no image for tool/);
    const doc = parse(readFileSync(out, 'utf8')) as {
      services: Record<
        string,
        { healthcheck?: { test: string[] }; image?: string; depends_on?: unknown }
      >;
    };
    const s = doc.services;
    expect(s.cache?.healthcheck?.test.slice(0, 2)).to.deep.equal(['CMD', 'redis-cli']);
    expect(s.db?.healthcheck?.test.slice(0, 2)).to.deep.equal(['CMD', 'pg_isready']);
    expect(s.api?.healthcheck, 'nothing known runs in that image').to.equal(undefined);
    expect(readFileSync(out, 'utf8')).to.match(/# the image has no tool launchguard knows/);
    expect(s.tool?.image, 'no guess').to.equal(undefined);
    for (const svc of Object.values(s))
      expect(JSON.stringify(svc.healthcheck ?? {})).not.to.include('"node"');
    expect(s.api?.depends_on).to.deep.equal({
      cache: { condition: 'service_healthy' },
      db: { condition: 'service_healthy' },
    });
  });

  it('a project path with a space, non-ASCII and $ verifies; WorkingDirectory is written as is', async function () {
    requireTool(this, 'systemd-analyze', ['--version']);
    const root = join(tempDir(), 'my app', 'josé $x');
    mkdirSync(root, { recursive: true });
    writeFiles(root, {
      'launch.config.mjs': `export default ${JSON.stringify({
        name: 'spaced',
        services: {
          web: { command: ['node', '-e', 'setInterval(() => {}, 1000)'], port: await freePort() },
        },
      })};\n`,
    });
    const dir = join(tempDir(), 'units');
    expect((await runCli(['export', 'systemd', '-o', dir], { cwd: root })).code).to.equal(0);
    const file = join(dir, 'spaced-web.service');
    expect(readFileSync(file, 'utf8')).to.include(`WorkingDirectory=${root}\n`);
    const verify = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
    expect(verify.status, verify.stderr).to.equal(0);
    expect(verify.stderr).to.equal('');
  });

  it('the unit grammar reader agrees with systemd-analyze verify on 40 generated units', async function () {
    requireTool(this, 'systemd-analyze', ['--version']);
    const dir = join(tempDir(), 'units');
    mkdirSync(dir);
    const value = fc
      .string({ unit: 'binary', maxLength: 16 })
      .filter((v) => !v.includes('\0') && !hasNonCharacter(v)); // refused: tested in unit/export-props
    const samples = fc.sample(fc.record({ arg: value, env: value, cwd: value }), {
      numRuns: 40,
      seed: 42,
    });
    samples.forEach((sample, i) => {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: paths with them are refused (unit tests)
      const cwd = `/srv/${sample.cwd.replace(/[\u0000-\u001f\u007f\\ \t]/g, 'x')}`;
      const units = systemdUnits(
        {
          name: `gen${i}`,
          configFile: '/srv/launch.config.ts',
          root: '/srv',
          pidDir: '/srv/.pids',
          launcher: ['/bin/true'],
          pickedPorts: {},
          envFiles: [],
          services: [
            {
              name: 'svc',
              program: '/bin/true',
              args: [sample.arg],
              argv: ['/bin/true', sample.arg],
              cwd,
              env: { VALUE: sample.env },
              secretEnv: {},
              logFile: '/srv/.pids/svc.log',
              port: null,
              probe: null,
              health: null,
              readyTimeout: 1000,
              stopTimeout: 1000,
              stopSignal: 'SIGTERM',
              restart: 'no',
              maxRestarts: 1,
              dependsOn: [],
              task: false,
              image: null,
              imageAssumed: false,
            },
          ],
        },
        { user: false, dir },
      );
      for (const [name, text] of units.units) writeFileSync(join(dir, name), text);
    });
    const files = readdirSync(dir).filter((f) => f.endsWith('.service'));
    const verify = spawnSync(
      'systemd-analyze',
      ['verify', '--man=no', ...files.map((f) => join(dir, f))],
      {
        encoding: 'utf8',
      },
    );
    expect(verify.status, verify.stderr).to.equal(0);
    expect(verify.stderr, 'systemd reads every one without a complaint').to.equal('');
  });

  it('systemd-analyze security rates each hardened demo unit at most 4.5 (--no-hardening: far worse)', async function () {
    requireTool(this, 'systemd-analyze', ['--version']);
    const exposure = async (extra: string[]) => {
      const dir = join(tempDir(), 'units');
      const result = await runCli(['export', 'systemd', '-o', dir, ...extra], { cwd: ROOT });
      expect(result.code, result.stderr).to.equal(0);
      return readdirSync(dir)
        .filter((f) => f.endsWith('.service'))
        .map((f) => {
          const r = spawnSync('systemd-analyze', ['security', '--offline=true', join(dir, f)], {
            encoding: 'utf8',
          });
          const m = /Overall exposure level for \S+: (\d+\.\d)/.exec(r.stdout);
          expect(m, r.stdout + r.stderr).to.not.equal(null);
          return Number(m?.[1]);
        });
    };
    const hardened = await exposure([]);
    expect(hardened).to.have.length(2);
    for (const level of hardened) expect(level).to.be.at.most(4.5);
    for (const level of await exposure(['--no-hardening'])) expect(level).to.be.above(9);
  });

  describe('export kubernetes', () => {
    /** The kubernetes-models class of each kind an export writes. */
    async function validate(docs: Record<string, unknown>[]): Promise<string[]> {
      type Model = new (d: never) => { validate(): void };
      const classes: Record<string, () => Promise<Model>> = {
        Deployment: async () => (await import('kubernetes-models/apps/v1/Deployment')).Deployment,
        Service: async () => (await import('kubernetes-models/v1/Service')).Service,
        ConfigMap: async () => (await import('kubernetes-models/v1/ConfigMap')).ConfigMap,
        Secret: async () => (await import('kubernetes-models/v1/Secret')).Secret,
        Job: async () => (await import('kubernetes-models/batch/v1/Job')).Job,
        ServiceAccount: async () =>
          (await import('kubernetes-models/v1/ServiceAccount')).ServiceAccount,
        Role: async () =>
          (await import('kubernetes-models/rbac.authorization.k8s.io/v1/Role')).Role,
        RoleBinding: async () =>
          (await import('kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding')).RoleBinding,
      };
      const kinds: string[] = [];
      for (const doc of docs) {
        const kind = doc.kind as string;
        const load = classes[kind];
        expect(load, `a kind the test knows: ${kind}`).to.not.equal(undefined);
        const Model = await (load as NonNullable<typeof load>)();
        new Model(doc as never).validate(); // throws with the schema path of any error
        kinds.push(kind);
      }
      return kinds;
    }

    function docsOf(file: string): Record<string, unknown>[] {
      return parseAllDocuments(readFileSync(file, 'utf8')).map(
        (d) => d.toJS() as Record<string, unknown>,
      );
    }

    it('the demo (with images) validates against the Kubernetes schema', async () => {
      const root = tempDir();
      cpSync(join(ROOT, 'examples'), join(root, 'examples'), { recursive: true });
      const demo = readFileSync(join(ROOT, 'launch.config.ts'), 'utf8')
        .replace("import { defineConfig } from 'launchguard';", '')
        .replace('defineConfig(', '(')
        .replaceAll(
          "command: 'node examples/",
          "image: 'registry.example/demo:1', command: 'node examples/",
        );
      writeFileSync(join(root, 'launch.config.mjs'), demo);
      const out = join(root, 'k8s', 'demo.yaml');
      const result = await runCli(['export', 'kubernetes', '-o', out, '--namespace', 'demo'], {
        cwd: root,
      });
      expect(result.code, result.stderr).to.equal(0);
      const docs = docsOf(out);
      expect(await validate(docs)).to.have.members([
        'ConfigMap',
        'Deployment',
        'Service',
        'ConfigMap',
        'Deployment',
        'Service',
      ]);
      for (const d of docs)
        expect((d.metadata as { namespace: string }).namespace).to.equal('demo');
      const frontend = docs.find(
        (d) => d.kind === 'Deployment' && (d.metadata as { name: string }).name === 'frontend',
      ) as {
        spec: { template: { spec: { initContainers: { command: string[] }[] } } };
      };
      expect(frontend.spec.template.spec.initContainers[0]?.command.join(' ')).to.include(
        'nc -z backend 8001',
      );
      const backendEnv = docs.find(
        (d) => d.kind === 'ConfigMap' && (d.metadata as { name: string }).name === 'frontend-env',
      ) as {
        data: Record<string, string>;
      };
      expect(backendEnv.data).to.include({
        BACKEND_HOST: 'backend',
        BACKEND_PORT: '8001',
        PORT: '3000',
      });
    });

    it('a task, auto ports, health and an env file: Jobs, probes, a 0600 Secret; no image: exit 2', async () => {
      const root = tempDir();
      writeFileSync(join(root, '.env'), 'API_TOKEN=tok-SECRET-99\n', { mode: 0o600 });
      const services = {
        migrate: { command: ['node', 'migrate.js'], image: 'registry.example/app:1' },
        api: {
          command: ['node', 'server.js'],
          image: 'registry.example/app:1',
          port: 'auto',
          envFile: '.env',
          ready: { http: '/ready' },
          health: { http: '/health', interval: 5000, failures: 2 },
          stopTimeout: 12_000,
          stopSignal: 'SIGINT',
          dependsOn: { migrate: 'completed' },
        },
        worker: {
          command: ['node', 'worker.js'],
          image: 'registry.example/app:1',
          ready: { log: 'started' },
          dependsOn: ['api'],
        },
      };
      writeFileSync(
        join(root, 'launch.config.mjs'),
        `export default ${JSON.stringify({ name: 'shop', services })};\n`,
      );
      const dir = join(root, 'k8s');
      mkdirSync(dir);
      const printed = await runCli(['export', 'kubernetes'], { cwd: root });
      expect(printed.code, 'a secret is never printed').to.equal(2);
      expect(printed.stdout + printed.stderr).not.to.include('tok-SECRET-99');
      const result = await runCli(['export', 'kubernetes', '-o', dir], { cwd: root });
      expect(result.code, result.stderr).to.equal(0);
      const main = join(dir, 'shop.yaml');
      const secrets = join(dir, 'shop.secrets.yaml');
      expect(readFileSync(main, 'utf8')).not.to.include('tok-SECRET-99');
      expect(lstatSync(secrets).mode & 0o777).to.equal(0o600);
      const docs = [...docsOf(main), ...docsOf(secrets)];
      const kinds = await validate(docs);
      expect(kinds).to.include.members([
        'Job',
        'Deployment',
        'Service',
        'Secret',
        'ServiceAccount',
        'Role',
        'RoleBinding',
      ]);
      const api = docs.find(
        (d) => d.kind === 'Deployment' && (d.metadata as { name: string }).name === 'api',
      ) as {
        spec: {
          template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } };
        };
      };
      const pod = api.spec.template.spec;
      const c = pod.containers[0] as Record<
        string,
        { httpGet?: { path: string }; failureThreshold?: number }
      >;
      expect(c.readinessProbe?.httpGet?.path).to.equal('/ready');
      expect(c.livenessProbe?.httpGet?.path).to.equal('/health');
      expect(c.livenessProbe?.failureThreshold).to.equal(2);
      expect(pod.terminationGracePeriodSeconds).to.equal(12);
      expect(pod.serviceAccountName).to.equal('shop-waiter');
      expect(JSON.stringify(pod.initContainers)).to.include('job/migrate');
      expect(readFileSync(main, 'utf8')).to.include(
        'Kubernetes sends SIGTERM; the config asks for SIGINT',
      );
      expect(readFileSync(main, 'utf8')).to.include('a log check has no Kubernetes probe');
      // Without an image: exit 2, naming the service
      const none = { ...services, worker: { ...services.worker, image: undefined } };
      writeFileSync(
        join(root, 'launch.config.mjs'),
        `export default ${JSON.stringify({ name: 'shop', services: none })};\n`,
      );
      const missing = await runCli(['export', 'kubernetes', '-o', dir], { cwd: root });
      expect(missing.code).to.equal(2);
      expect(missing.stderr).to.match(/needs an image for every service; without one: worker/);
    });
  });
});
