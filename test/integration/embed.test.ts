import { mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { launch } from '../../lib/api.js';
import { runCli } from '../helpers/cli.js';
import { markedPids, recordOf } from '../helpers/e2e.js';
import { fixture, ROOT } from '../helpers/paths.js';
import { freePort, holdPort, listenersOn } from '../helpers/ports.js';
import { waitFor } from '../helpers/procs.js';
import { runProcess } from '../helpers/run.js';
import { failure, listenService, makeStack, nodeFixture } from '../helpers/stack.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';

/**
 * Makes `launchguard` (this checkout) resolvable from `dir` as an installed
 * package, and (with `all`) every package this checkout has installed: a
 * test runner run from `dir` with --preserve-symlinks then finds
 * `launchguard/mocha` the way it would in a real project.
 */
function install(dir: string, all = false): void {
  const modules = join(dir, 'node_modules');
  mkdirSync(modules, { recursive: true });
  symlinkSync(ROOT, join(modules, 'launchguard'));
  if (!all) return;
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (!name.startsWith('.')) symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  }
}

/** Runs `node <args>` in `dir` (tracked); resolves with its exit code and output. */
function node(args: readonly string[], dir: string, timeout = 20_000, env: NodeJS.ProcessEnv = {}) {
  return runProcess([process.execPath, ...args], { cwd: dir, timeout, env });
}

const HOST_ENDINGS: Record<string, string> = {
  'its work ends': '',
  'process.exit()': 'process.exit(0);',
  'an uncaught exception': "setTimeout(() => { throw new Error('host failed'); }, 10);",
  'an unhandled rejection': "Promise.reject(new Error('host failed'));",
  SIGINT: "process.kill(process.pid, 'SIGINT');",
  SIGTERM: "process.kill(process.pid, 'SIGTERM');",
};

describe('embedding: launch() in a host process, and the test-runner fixtures', () => {
  describe('a host that ends without stop() leaves nothing behind', () => {
    for (const [how, code] of Object.entries(HOST_ENDINGS)) {
      it(`when the host ends by ${how}`, async () => {
        const config = await makeStack({ api: listenService('auto') });
        install(config.root);
        writeFiles(config.root, {
          'host.mjs': `import { launch } from 'launchguard';\nconst stack = await launch();\nconsole.log('up on', stack.port('api'));\n${code}\n`,
        });
        const host = await node(['host.mjs'], config.root);
        expect(host.out).to.match(/up on \d+/);
        await waitFor(() => markedPids(config).length === 0, 5000, 'the services to be stopped');
      });
    }

    for (const [how, code] of Object.entries({
      'process.exit()': 'process.exit(0);',
      SIGINT: "process.kill(process.pid, 'SIGINT');",
    })) {
      it(`when the host ends by ${how} while the services start`, async () => {
        const config = await makeStack({
          api: listenService('auto'),
          slow: listenService('auto', { DELAY: '3000' }, { readyTimeout: 15_000 }),
        });
        install(config.root);
        writeFiles(config.root, {
          'host.mjs': `import { launch } from 'launchguard';
await launch({ onEvent: (e) => { if (e.type === 'ready' && e.service === 'api') { console.log('api ready'); ${code} } } });
console.log('all up');
`,
        });
        const host = await node(['host.mjs'], config.root);
        expect(host.out).to.include('api ready');
        expect(host.out).not.to.include('all up');
        await waitFor(() => markedPids(config).length === 0, 5000, 'the services to be stopped');
        // Records may stay (an exit handler cannot wait for the end): they read as stale.
        const status = await runCli(['status', '--json'], { cwd: config.root });
        const states = (JSON.parse(status.stdout) as { state: string }[]).map((s) => s.state);
        expect(states.filter((s) => s === 'running' || s === 'starting')).to.deep.equal([]);
      });
    }

    it('another exit listener of the host that throws does not keep the release from running', async () => {
      const config = await makeStack({ api: listenService('auto') });
      install(config.root);
      writeFiles(config.root, {
        'host.mjs':
          "import { launch } from 'launchguard';\n" +
          "process.on('exit', () => { throw new Error('a host listener failed'); });\n" +
          "const stack = await launch();\nconsole.log('up on', stack.port('api'));\n",
      });
      const host = await node(['host.mjs'], config.root);
      expect(host.out).to.match(/up on \d+/);
      await waitFor(() => markedPids(config).length === 0, 5000, 'the services to be stopped');
    });

    it('keepAlive: true leaves the stack running for later', async () => {
      const config = await makeStack({ api: listenService('auto') });
      install(config.root);
      writeFiles(config.root, {
        'host.mjs': `import { launch } from 'launchguard';\nawait launch({ keepAlive: true });\n`,
      });
      expect((await node(['host.mjs'], config.root)).code).to.equal(0);
      await sleep(200);
      expect(markedPids(config)).to.have.length(1);
      expect((await runCli(['down'], { cwd: config.root })).code).to.equal(0);
    });
  });

  it('require("launchguard") works in a CommonJS project, with the fixtures', async () => {
    const config = await makeStack({ api: listenService('auto') });
    install(config.root);
    writeFiles(config.root, {
      'host.cjs':
        "const { launch, defineConfig, LaunchError } = require('launchguard');\n" +
        "const fixture = require('launchguard/mocha');\n" +
        'console.log(typeof launch, typeof defineConfig, typeof LaunchError, typeof fixture.mochaGlobalSetup);\n' +
        'launch().then(async (s) => { console.log("port", s.port("api")); await s.stop(); });\n',
    });
    const host = await node(['host.cjs'], config.root);
    expect(host.out, host.out).to.match(/^function function function function\nport \d+\n/);
    expect(host.code).to.equal(0);
    expect(markedPids(config)).to.deep.equal([]);
  });

  it('a handle is disposable: await using stops it at the end of the block', async () => {
    const config = await makeStack({ api: listenService('auto') });
    let port = 0;
    {
      await using stack = await launch({ cwd: config.root });
      port = stack.port('api');
      expect(listenersOn(port).length).to.be.greaterThan(0);
    }
    expect(listenersOn(port)).to.have.length(0);
    expect(recordOf(config, 'api')).to.equal(null);
  });

  it('every service sees every <NAME>_PORT, auto ports and dashed names included', async () => {
    const dir = tempDir();
    const out = (name: string) => join(dir, `${name}.json`);
    const dump = (name: string) => ({
      command: [process.execPath, fixture('env-dump.mjs')],
      env: { DUMP_TO: out(name) },
    });
    const fixed = await freePort();
    const config = await makeStack({
      'my-api': { ...dump('my-api'), port: 'auto' },
      db: { ...dump('db'), port: fixed },
      web: { ...dump('web'), port: 'auto' },
    });
    const stack = await launch({ cwd: config.root });
    try {
      for (const name of ['my-api', 'db', 'web']) {
        await waitFor(() => {
          try {
            return readFileSync(out(name), 'utf8').length > 0;
          } catch {
            return false;
          }
        });
        const env = JSON.parse(readFileSync(out(name), 'utf8')) as Record<string, string>;
        expect(env, name).to.include({
          MY_API_PORT: String(stack.port('my-api')),
          DB_PORT: String(fixed),
          WEB_PORT: String(stack.port('web')),
        });
      }
    } finally {
      await stack.stop();
    }
  });

  it('a failed launch() says which port and which holder, where a test runner shows it', async () => {
    const port = await freePort();
    const holder = await holdPort(port);
    const config = await makeStack({ api: listenService(port) });
    const error = await failure(launch({ cwd: config.root }));
    expect(error.message).to.include(`port ${port}`);
    for (const text of [String(error), error.stack ?? '']) {
      expect(text).to.include(`pid ${holder.pid}`);
      expect(text).to.match(/hint: .*--force/);
    }
  });

  it('mocha --require launchguard/mocha: a stack for the tests, gone afterwards; set variables kept', async () => {
    const http = { ready: { http: '/' } };
    const config = await makeStack({
      api: listenService('auto', {}, http),
      web: { ...listenService('auto', {}, http), dependsOn: ['api'] },
      redis: listenService('auto'),
    });
    install(config.root, true);
    writeFiles(config.root, {
      'test/ports.test.mjs':
        "import { strict as assert } from 'node:assert';\n" +
        "it('sees the ports and URLs', async () => {\n" +
        '  assert.match(process.env.API_PORT, /^\\d+$/);\n' +
        '  assert.match(process.env.WEB_URL, /^http:\\/\\/127\\.0\\.0\\.1:\\d+$/);\n' +
        '  const res = await fetch(process.env.API_URL);\n' +
        '  assert.equal(res.status, 200);\n' +
        '  assert.match(process.env.REDIS_PORT, /^\\d+$/);\n' +
        "  assert.equal(process.env.REDIS_URL, 'redis://127.0.0.1:6379/2');\n" +
        '});\n',
    });
    const mocha = join(config.root, 'node_modules', 'mocha', 'bin', 'mocha.js');
    const run = await node(
      [
        '--preserve-symlinks',
        '--preserve-symlinks-main',
        mocha,
        '--require',
        'launchguard/mocha',
        'test/ports.test.mjs',
      ],
      config.root,
      20_000,
      { REDIS_URL: 'redis://127.0.0.1:6379/2' },
    );
    expect(run.code, run.out).to.equal(0);
    expect(run.out).to.include('1 passing');
    expect(markedPids(config)).to.deep.equal([]);
  });

  it('vitest globalSetup launchguard/vitest: the same stack, provided and in the environment', async function () {
    this.timeout(60_000);
    const http = { ready: { http: '/' } };
    const config = await makeStack({
      api: listenService('auto', {}, http),
      web: { ...listenService('auto', {}, http), dependsOn: ['api'] },
    });
    install(config.root, true);
    writeFiles(config.root, {
      'vitest.config.mjs': "export default { test: { globalSetup: ['launchguard/vitest'] } };\n",
      'ports.test.mjs':
        "import { expect, inject, test } from 'vitest';\n" +
        "test('sees the stack', async () => {\n" +
        "  expect(inject('launchguard').ports.api).toBe(Number(process.env.API_PORT));\n" +
        '  const res = await fetch(process.env.WEB_URL);\n' +
        '  expect(res.status).toBe(200);\n' +
        '});\n',
    });
    const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
    const run = await node([vitest, 'run', '--root', config.root], config.root, 50_000);
    expect(run.code, run.out).to.equal(0);
    expect(run.out).to.match(/1 passed/);
    expect(markedPids(config)).to.deep.equal([]);
  });

  describe('the CLI around it', () => {
    it('run of a missing command exits 127 without starting any service', async () => {
      const config = await makeStack({ api: listenService(await freePort()) });
      const result = await runCli(['run', '--', 'no-such-command-xyz', '--flag'], {
        cwd: config.root,
      });
      expect(result.code).to.equal(127);
      expect(result.stderr).to.match(/no-such-command-xyz.*not found/);
      expect(result.stderr).not.to.match(/api: ready/);
      expect(recordOf(config, 'api')).to.equal(null);
    });

    it('run "a && b" suggests sh -c', async () => {
      const config = await makeStack({ api: listenService(await freePort()) });
      const result = await runCli(['run', 'npm test && echo done'], { cwd: config.root });
      expect(result.code).to.equal(127);
      expect(result.stderr).to.include(`run -- sh -c 'npm test && echo done'`);
    });

    it('start, stop and ps suggest up, down and status', async () => {
      const dir = (await makeStack({ api: listenService(await freePort()) })).root;
      for (const [typed, meant] of [
        ['start', 'up'],
        ['stop', 'down'],
        ['ps', 'status'],
      ]) {
        const result = await runCli([typed as string], { cwd: dir });
        expect(result.code).to.equal(2);
        expect(result.stderr).to.include(`did you mean '${meant}'`);
      }
    });

    it('the summary shows http:// only for services with an http check', async () => {
      const config = await makeStack({
        web: { ...listenService(await freePort()), ready: { http: '/' } },
        cache: listenService(await freePort()),
      });
      const up = await runCli(['up', '-d'], { cwd: config.root });
      expect(up.stdout).to.match(/web http:\/\/localhost:\d+/);
      expect(up.stdout).to.match(/cache localhost:\d+ \(pid/);
    });

    it('CI logs show a heartbeat while a slow service boots', async () => {
      const config = await makeStack({
        slow: { ...listenService(await freePort(), { DELAY: '2600' }), readyTimeout: 10_000 },
      });
      const up = await runCli(['up', '-d'], {
        cwd: config.root,
        env: { LAUNCHGUARD_HEARTBEAT: '1000' },
      });
      expect(up.code).to.equal(0);
      expect(up.stdout).to.match(/… slow: still waiting for readiness \(1 s\)/);
      expect(up.stdout).to.match(/… slow: still waiting for readiness \(2 s\)/);
    });

    it('each instance starts its log with a separator, and logs rotate at a size cap', async () => {
      const config = await makeStack(
        { talk: { command: nodeFixture('chatty.mjs'), env: { INTERVAL: '1' } } },
        { logs: { maxSize: 2048, keep: 2 } },
      );
      for (let i = 0; i < 4; i++) {
        expect((await runCli(['up', '-d', '--replace'], { cwd: config.root })).code).to.equal(0);
        await sleep(400);
      }
      // The keeper rotates the log while the service runs too: the newest instance's
      // separator is in the live log or a rotated one.
      const logs = ['talk.log', 'talk.log.1', 'talk.log.2']
        .map((f) => readFileSync(join(config.pidDir, f), 'utf8'))
        .join('\n');
      const pid = recordOf(config, 'talk')?.pid;
      expect(logs).to.match(new RegExp(`^--- started \\S+ pid ${pid} ---$`, 'm'));
      const files = readdirSync(config.pidDir).filter((f) => f.startsWith('talk.log'));
      expect(files.sort()).to.deep.equal(['talk.log', 'talk.log.1', 'talk.log.2']);
      await runCli(['down'], { cwd: config.root });
    });
  });
});
