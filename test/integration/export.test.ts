import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { stackId } from '../../lib/state/marker.js';
import { runCli } from '../helpers/cli.js';
import { markedPids, recordOf, startCli } from '../helpers/e2e.js';
import { freePort, holdPort, listenersOn } from '../helpers/ports.js';
import { isAlive, waitFor } from '../helpers/procs.js';
import { listenService, makeStack, nodeFixture, spawnPlain } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { requireRoot, requireTool } from '../helpers/users.js';

/** Removes an empty cgroup; false while it still holds a process (EBUSY). */
function removed(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EBUSY') return false;
    throw error;
  }
}

/**
 * Runs `body` with a listener on `port` (this test's process, `env` added)
 * placed in the cgroup of systemd unit `unit`, as systemd would run it; then
 * kills it and removes the cgroup.
 */
async function inUnit(
  unit: string,
  port: number,
  env: Record<string, string>,
  body: (pid: number) => Promise<void>,
): Promise<void> {
  const byUnit = spawnPlain(nodeFixture('listen.mjs'), { PORT: String(port), ...env });
  const pid = byUnit.pid as number;
  await waitFor(() => listenersOn(port).length > 0, 5000, 'the unit’s process to listen');
  const cgroups = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd'].map((h) =>
    join(h, 'system.slice', unit),
  );
  const placed: string[] = [];
  try {
    for (const dir of cgroups) {
      mkdirSync(dir, { recursive: true });
      placed.push(dir);
      writeFileSync(join(dir, 'cgroup.procs'), String(pid));
    }
    expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).to.include(unit);
    await body(pid);
  } finally {
    process.kill(pid, 'SIGKILL'); // ours: spawned here
    // A cgroup can be removed once empty: after the process is reaped, not merely dead.
    for (const dir of placed.reverse())
      await waitFor(() => removed(dir), 5000, `the cgroup ${dir} to be removed`);
  }
}

/** A three-service stack: a one-shot task, an http service after it, a web service after that. */
async function threeServices(): Promise<ResolvedConfig> {
  return makeStack({
    migrate: { command: ['node', '-e', "console.log('migrated')"] },
    api: {
      ...listenService(await freePort()),
      ready: { http: '/' },
      stopTimeout: 7000,
      stopSignal: 'SIGINT',
      restart: 'on-failure',
      dependsOn: { migrate: 'completed' },
    },
    'my-web': { ...listenService(await freePort()), dependsOn: ['api'] },
  });
}

describe('export: systemd units and a Compose file', () => {
  it('systemd units pass systemd-analyze verify, with readiness, dependencies and the task', async function () {
    requireTool(this, 'systemd-analyze', ['--version']);
    const config = await threeServices();
    const dir = join(tempDir(), 'units');
    const result = await runCli(['export', 'systemd', '-o', dir], { cwd: config.root });
    expect(result.code, result.stderr).to.equal(0);
    const prefix = config.name;
    const files = [
      `${prefix}-migrate.service`,
      `${prefix}-api.service`,
      `${prefix}-my-web.service`,
      `${prefix}.target`,
    ];
    const verify = spawnSync(
      'systemd-analyze',
      ['verify', '--man=no', ...files.map((f) => join(dir, f))],
      {
        encoding: 'utf8',
      },
    );
    expect(verify.status, verify.stderr).to.equal(0);
    expect(verify.stderr + verify.stdout, 'no warnings').to.equal('');
    const unit = (name: string) => readFileSync(join(dir, name), 'utf8');
    const api = unit(`${prefix}-api.service`);
    expect(api).to.include(`After=${prefix}-migrate.service`);
    expect(api).to.include(`Requires=${prefix}-migrate.service`);
    expect(api).to.match(/^ExecStartPost=\/\S+\/node \S+launchguard\.js -c \S+ wait api$/m);
    expect(api).to.match(
      /^ExecStartPre=-\/\S+\/node \S+launchguard\.js -c \S+ down --no-deps api$/m,
    );
    expect(api).to.match(/^ExecStart=\/\S+\/node /m);
    expect(api).to.include('Restart=on-failure');
    expect(api).to.include('TimeoutStopSec=7000ms');
    expect(api).to.include('KillSignal=SIGINT');
    expect(api).to.include('KillMode=control-group');
    const ports = config.services;
    for (const env of [
      `PORT=${ports.api?.port}`,
      `API_PORT=${ports.api?.port}`,
      `MY_WEB_PORT=${ports['my-web']?.port}`,
      `LAUNCHGUARD_INSTANCE=${stackId(config.name, config.file)}/api/`,
    ])
      expect(api).to.include(`Environment="${env}`);
    const task = unit(`${prefix}-migrate.service`);
    expect(task).to.include('Type=oneshot');
    expect(task).to.include('RemainAfterExit=yes');
    expect(task).not.to.include('ExecStartPost');
    expect(unit(`${prefix}-my-web.service`)).to.include(`Requires=${prefix}-api.service`);
    expect(unit(`${prefix}.target`)).to.include(
      `Wants=${prefix}-migrate.service ${prefix}-api.service ${prefix}-my-web.service`,
    );
  });

  it('user units (--user) pass verify too', async function () {
    requireTool(this, 'systemd-analyze', ['--version']);
    const config = await threeServices();
    const dir = join(tempDir(), 'units');
    expect(
      (await runCli(['export', 'systemd', '-o', dir, '--user'], { cwd: config.root })).code,
    ).to.equal(0);
    const runtime = tempDir();
    const verify = spawnSync(
      'systemd-analyze',
      [
        'verify',
        '--user',
        '--man=no',
        ...['migrate', 'api', 'my-web'].map((s) => join(dir, `${config.name}-${s}.service`)),
        join(dir, `${config.name}.target`),
      ],
      { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: runtime } },
    );
    expect(verify.status, verify.stderr).to.equal(0);
    expect(verify.stderr, 'no warnings').to.equal('');
    expect(readFileSync(join(dir, `${config.name}.target`), 'utf8')).to.include(
      'WantedBy=default.target',
    );
  });

  it('the Compose file passes docker-compose config, with healthchecks and dependency conditions', async function () {
    requireTool(this, 'docker-compose', ['version']);
    const config = await threeServices();
    const file = join(tempDir(), 'compose.yaml');
    const result = await runCli(['export', 'compose', '-o', file], { cwd: config.root });
    expect(result.code, result.stderr).to.equal(0);
    const check = spawnSync('docker-compose', ['-f', file, 'config'], {
      encoding: 'utf8',
      cwd: tempDir(),
    });
    expect(check.status, check.stderr).to.equal(0);
    const normalized = check.stdout;
    expect(normalized).to.match(/migrate:\n\s+condition: service_completed_successfully/);
    expect(normalized).to.match(/api:\n\s+condition: service_healthy/);
    expect(normalized).to.include('healthcheck:');
    const apiPort = config.services.api?.port;
    expect(normalized).to.include(`127.0.0.1:${apiPort}:${apiPort}`);
    const text = readFileSync(file, 'utf8');
    expect(text).to.include('image: "node:');
    expect(text).to.include('not rewritten to service names');
    expect((await runCli(['export', 'compose'], { cwd: config.root })).stdout).to.equal(text);
  });

  it("a unit that starts takes over from launchguard's own instance: only that service, never its dependents", async () => {
    const config = await makeStack({
      api: listenService(await freePort()),
      web: { ...listenService(await freePort()), dependsOn: ['api'] },
    });
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    const api = recordOf(config, 'api');
    const web = recordOf(config, 'web');
    const dir = join(tempDir(), 'units');
    expect((await runCli(['export', 'systemd', '-o', dir], { cwd: config.root })).code).to.equal(0);
    // What systemd runs before the unit's ExecStart (the '-': a failure does not stop the start).
    const pre = /^ExecStartPre=-(.+)$/m.exec(
      readFileSync(join(dir, `${config.name}-api.service`), 'utf8'),
    )?.[1];
    expect(pre, 'the unit has an ExecStartPre').to.be.a('string');
    const [program, ...args] = (pre as string).split(' ');
    const ran = spawnSync(program as string, args, { cwd: '/', encoding: 'utf8' });
    expect(ran.status, ran.stderr).to.equal(0);
    expect(ran.stdout).to.match(/stopped api/);
    expect(isAlive(api?.pid as number), "launchguard's api is stopped").to.equal(false);
    expect(isAlive(web?.pid as number), 'its dependent keeps running').to.equal(true);
    expect((await runCli(['down'], { cwd: config.root })).code).to.equal(0);
  });

  it('health maps to the Compose healthcheck, and is named as not mapped in a systemd unit', async () => {
    const config = await makeStack({
      api: {
        ...listenService(await freePort()),
        health: { http: '/health', interval: 5000, timeout: 2000, failures: 2 },
      },
    });
    const compose = await runCli(['export', 'compose'], { cwd: config.root });
    expect(compose.code, compose.stderr).to.equal(0);
    expect(compose.stdout).to.match(/interval: "5s"\n\s+timeout: "2s"\n\s+retries: 2\n/);
    const dir = join(tempDir(), 'units');
    expect((await runCli(['export', 'systemd', '-o', dir], { cwd: config.root })).code).to.equal(0);
    const unit = readFileSync(join(dir, `${config.name}-api.service`), 'utf8');
    expect(unit).to.include('# health (liveness) is not mapped');
  });

  it('no value breaks out: a CR in an env value, newlines in a log pattern and in the comments', async function () {
    requireTool(this, 'systemd-analyze', ['--version']);
    const config = await makeStack({
      web: {
        ...listenService(await freePort()),
        env: { EVIL: 'x\rExecStart=/nonexistent/INJECTED\r#', TAB: 'a\tb' },
        ready: { log: 'listening\n    privileged: true\n    pid: host\n    #' },
      },
    });
    const dir = join(tempDir(), 'units');
    expect((await runCli(['export', 'systemd', '-o', dir], { cwd: config.root })).code).to.equal(0);
    const unit = readFileSync(join(dir, `${config.name}-web.service`), 'utf8');
    expect(unit.match(/^ExecStart=/gm), 'one ExecStart').to.have.length(1);
    expect(unit).to.include('Environment="EVIL=x\\x0dExecStart=/nonexistent/INJECTED\\x0d#"');
    const verify = spawnSync(
      'systemd-analyze',
      ['verify', join(dir, `${config.name}-web.service`)],
      {
        encoding: 'utf8',
      },
    );
    expect(verify.stderr).not.to.match(/more than one ExecStart/);
    const compose = await runCli(['export', 'compose'], { cwd: config.root });
    expect(compose.stdout).not.to.match(/^\s+(privileged|pid):/m);
    // The pattern is config text: it never reaches a comment; the comment says what is missing.
    expect(compose.stdout).not.to.include('listening');
    expect(compose.stdout).to.include('# readiness: a log check has no Compose equivalent');
  });

  describe('launchguard wait', () => {
    it('exits 0 once the service is ready', async () => {
      const config = await makeStack({ api: listenService(await freePort(), { DELAY: '500' }) });
      expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
      const wait = await runCli(['wait', 'api'], { cwd: config.root });
      expect(wait.code, wait.stderr).to.equal(0);
      expect(wait.stdout).to.match(/api: ready/);
    });

    it('exits 1 at its timeout when nothing answers', async () => {
      const config = await makeStack({ api: listenService(await freePort()) });
      const started = Date.now();
      const wait = await runCli(['wait', '--timeout', '0.6s', 'api'], { cwd: config.root });
      expect(wait.code).to.equal(1);
      expect(wait.stderr).to.match(/api: not ready after 600 ms/);
      expect(Date.now() - started).to.be.below(5000);
    });

    it("waits for a launcher that starts the service meanwhile, even with port 'auto' or a log check", async () => {
      const config = await makeStack({
        api: listenService('auto', { DELAY: '300' }),
        worker: { command: nodeFixture('listen.mjs'), port: 'auto', ready: { log: 'listening' } },
      });
      const waits = ['api', 'worker'].map((name) =>
        startCli(['wait', '--timeout', '15s', name], config.root),
      );
      await sleep(300); // the waits are running before anything starts
      const up = await runCli(['up', '-d'], { cwd: config.root });
      expect(up.code, up.stderr).to.equal(0);
      for (const [i, wait] of waits.entries()) {
        expect(await wait.exited, wait.output()).to.equal(0);
        expect(wait.output()).to.match(new RegExp(`${['api', 'worker'][i]}: ready`));
      }
    });

    it('a foreign listener on the port never makes wait succeed; it fails naming the holder', async () => {
      const port = await freePort();
      const config = await makeStack({ api: listenService(port) });
      const holder = await holdPort(port);
      const wait = await runCli(['wait', '--timeout', '600ms', 'api'], { cwd: config.root });
      expect(wait.code, wait.stdout).to.equal(1);
      expect(wait.stderr).to.include('api: not ready after 600 ms');
      expect(wait.stderr).to.include(`held by pid ${holder.pid}`);
      expect(wait.stderr).to.include('not api');
    });

    it("says so when a port: 'auto' service never starts (nothing to check)", async () => {
      const config = await makeStack({ api: listenService('auto') });
      const wait = await runCli(['wait', '--timeout', '500', 'api'], { cwd: config.root });
      expect(wait.code).to.equal(1);
      expect(wait.stderr).to.include('api: not ready after 500 ms');
      expect(wait.stderr).to.match(/not running/);
      expect(wait.stderr).to.include('launchguard up -d api');
    });
  });

  it('as root: the holder of the port in the service’s own unit, without a marker, is left to systemd by down', async function () {
    requireRoot(this);
    const port = await freePort();
    const config = await makeStack({ api: listenService(port) });
    const unit = `${config.name}-api.service`;
    await inUnit(unit, port, {}, async (pid) => {
      const down = await runCli(['down'], { cwd: config.root });
      expect(down.code, down.stdout).to.equal(1);
      expect(down.stdout).to.include(`runs under systemd as ${unit} (pid ${pid})`);
      expect(down.stdout).to.include(`systemctl stop ${unit}`);
      await sleep(100);
      expect(isAlive(pid), 'never signalled').to.equal(true);
    });
  });

  it('as root: a process in the stack’s own systemd unit is kept by up, shown by status, and never signalled by down', async function () {
    requireRoot(this);
    const port = await freePort();
    const config = await makeStack({ api: listenService(port) });
    const unit = `${config.name}-api.service`;
    const marker = `${stackId(config.name, config.file)}/api/000000000001`;
    await inUnit(unit, port, { LAUNCHGUARD_INSTANCE: marker }, async (pid) => {
      const up = await runCli(['up', '-d'], { cwd: config.root });
      expect(up.code, up.stderr).to.equal(0);
      expect(up.stdout).to.include(`runs under systemd as ${unit}`);
      expect(markedPids(config)).to.deep.equal([pid]);
      const status = await runCli(['status'], { cwd: config.root });
      expect(status.code).to.equal(0);
      expect(status.stdout).to.include(`running (systemd: ${unit})`);
      const down = await runCli(['down'], { cwd: config.root });
      expect(down.code).to.equal(1);
      expect(down.stdout).to.include(`systemctl stop ${unit}`);
      await sleep(100);
      expect(isAlive(pid), 'never signalled').to.equal(true);
    });
  });
});
