import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { LaunchError } from '../../lib/errors.js';
import { launch } from '../../lib/index.js';
import { markedPids, recordOf } from '../helpers/e2e.js';
import { ROOT } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { track } from '../helpers/procs.js';
import { failure, makeStack, nodeFixture } from '../helpers/stack.js';
import { writeFiles } from '../helpers/tmp.js';

describe('api: launch()', () => {
  it('starts the stack, gives ports, URLs, env and status, and stops what it started', async () => {
    const config = await makeStack({
      api: { command: nodeFixture('listen.mjs'), port: 'auto' },
      web: { command: nodeFixture('listen.mjs'), port: await freePort(), dependsOn: ['api'] },
    });
    const stack = await launch({ cwd: config.root });
    const port = stack.port('api');
    expect(stack.url('api', '/health')).to.equal(`http://127.0.0.1:${port}/health`);
    expect(stack.env()).to.include({ API_PORT: String(port) });
    const res = await fetch(`http://127.0.0.1:${port}/x`);
    expect(res.status).to.equal(200);
    const status = await stack.status();
    expect(status.map((s) => [s.name, s.state, s.ready])).to.deep.equal([
      ['api', 'running', true],
      ['web', 'running', true],
    ]);
    expect(() => stack.port('nope')).to.throw(LaunchError, "service 'nope' has no port");
    const down = await stack.stop();
    expect(down.clean).to.equal(true);
    expect(await stack.stop()).to.equal(down);
    expect(markedPids(config)).to.deep.equal([]);
    expect(recordOf(config, 'api')).to.equal(null);
  });

  it('rejects with the same typed errors as the CLI', async () => {
    const config = await makeStack({
      api: { command: nodeFixture('exit-early.mjs'), port: 'auto' },
    });
    expect((await failure(launch({ cwd: config.root }))).code).to.equal('E_EXITED');
    expect((await failure(launch({ cwd: config.root, services: ['nope'] }))).code).to.equal(
      'E_USAGE',
    );
  });

  it('rejects a misspelt LAUNCHGUARD_BACKEND with E_USAGE before starting anything', async () => {
    const config = await makeStack({ api: { command: nodeFixture('listen.mjs'), port: 'auto' } });
    const saved = process.env.LAUNCHGUARD_BACKEND;
    process.env.LAUNCHGUARD_BACKEND = 'portabel';
    try {
      const error = await failure(launch({ cwd: config.root }));
      expect(error.code).to.equal('E_USAGE');
      expect(error.message).to.include('LAUNCHGUARD_BACKEND=portabel');
    } finally {
      if (saved === undefined) delete process.env.LAUNCHGUARD_BACKEND;
      else process.env.LAUNCHGUARD_BACKEND = saved;
    }
    expect(markedPids(config)).to.deep.equal([]);
  });

  it('works in a mocha global setup and teardown (as the README shows)', async () => {
    const config = await makeStack({
      backend: { command: nodeFixture('listen.mjs'), port: 'auto' },
    });
    const index = join(ROOT, 'dist/lib/index.js');
    writeFiles(config.root, {
      'global.mjs': `import { launch } from ${JSON.stringify(index)};
let stack;
export async function mochaGlobalSetup() {
  stack = await launch({ services: ['backend'] });
  process.env.API_URL = stack.url('backend');
}
export async function mochaGlobalTeardown() {
  await stack?.stop();
}
`,
      'api.test.mjs': `import assert from 'node:assert';
it('talks to the backend', async () => {
  const res = await fetch(process.env.API_URL + '/hello');
  assert.strictEqual(res.status, 200);
});
`,
      '.mocharc.json': JSON.stringify({ require: ['global.mjs'], spec: ['api.test.mjs'] }),
    });
    const child = spawn(process.execPath, [join(ROOT, 'node_modules/mocha/bin/mocha.js')], {
      cwd: config.root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child.pid as number);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code, out).to.equal(0);
    expect(out).to.include('1 passing');
    expect(markedPids(config)).to.deep.equal([]);
  });
});
