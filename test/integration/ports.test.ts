import { existsSync, unlinkSync } from 'node:fs';
import { Server } from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import sinon from 'sinon';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { bringUp } from '../../lib/orchestrate/bring-up.js';
import { clearPort } from '../../lib/ports/clear-port.js';
import { systemScanner } from '../../lib/ports/scan.js';

const scanPort = systemScanner();

import { systemInspector } from '../../lib/os/inspector.js';
import { stackId } from '../../lib/state/marker.js';
import { servicePaths } from '../../lib/state/paths.js';
import { runCli } from '../helpers/cli.js';
import { markedPids } from '../helpers/e2e.js';
import { freePort, holdPort } from '../helpers/ports.js';
import { isAlive, waitForAsync } from '../helpers/procs.js';
import { failure, listenService, makeStack, spawnPlain } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

const inspector = systemInspector();

describe('ports: pre-flight and owners', () => {
  for (const host of ['0.0.0.0', '127.0.0.1', '::', '::1']) {
    it(`finds a holder on ${host} with its PID`, async () => {
      const port = await freePort();
      const holder = await holdPort(port, host);
      const uses = await scanPort(port);
      expect(uses.map((u) => u.pid)).to.include(holder.pid);
      expect(uses.map((u) => u.address)).to.include(host);
    });
  }

  it('reports a free port as free', async () => {
    expect(await scanPort(await freePort())).to.deep.equal([]);
  });

  it('a start binds its free fixed port once before the spawn, not twice', async () => {
    const port = await freePort();
    const config = await makeStack({ api: listenService(port) });
    const listen = sinon.spy(Server.prototype, 'listen');
    try {
      expect((await bringUp(config, 'api')).outcome.kind).to.equal('started');
    } finally {
      listen.restore();
    }
    const binds = listen.getCalls().filter((c) => JSON.stringify(c.args).includes(`${port}`));
    expect(binds).to.have.length(1);
  });

  it('checks every port before the first spawn: a foreign holder of the last one starts nothing, stops nothing', async () => {
    const [apiPort, webPort] = [await freePort(), await freePort()];
    const mark = join(tempDir(), 'migrated');
    const config = await makeStack({
      migrate: {
        command: [
          process.execPath,
          '-e',
          `require('fs').writeFileSync(${JSON.stringify(mark)}, '1')`,
        ],
      },
      api: listenService(apiPort, {}, { dependsOn: { migrate: 'completed' } }),
      web: listenService(webPort, {}, { dependsOn: ['api'] }),
    });
    // A backend started by hand (an earlier instance: the start would replace it) and a
    // foreign process on the last service's port.
    const api = config.services.api as ResolvedConfig['services'][string];
    const byHand = spawnPlain([...api.argv], { PORT: String(apiPort) }, api.cwd);
    const holder = await holdPort(webPort);
    await waitForAsync(async () => (await scanPort(apiPort)).length > 0, 5000, 'the hand start');
    const up = await runCli(['up', '-d'], { cwd: config.root });
    expect(up.code).to.equal(1);
    expect(up.stderr).to.include(`web: port ${webPort} is in use by pid ${holder.pid}`);
    expect(existsSync(mark), 'the task did not run').to.equal(false);
    expect(markedPids(config), 'nothing started').to.deep.equal([]);
    expect(isAlive(byHand.pid as number), 'the hand-started backend was not stopped').to.equal(
      true,
    );
    expect(isAlive(holder.pid as number)).to.equal(true);
  });

  it('refuses to start next to a foreign holder and leaves it running', async () => {
    const port = await freePort();
    const holder = await holdPort(port);
    const config = await makeStack({ api: listenService(port) });
    const error = await failure(bringUp(config, 'api'));
    expect(error.code).to.equal('E_PORT_IN_USE');
    expect(error.message).to.include(`port ${port}`).and.include(`pid ${holder.pid}`);
    expect(error.message).to.include('hold-port.mjs').and.include('user ');
    expect(error.hint).to.include('--force');
    expect(isAlive(holder.pid as number)).to.equal(true);
    expect(existsSync(servicePaths(config.pidDir, 'api').record)).to.equal(false);
  });

  it('stops a foreign holder with force, then starts', async () => {
    const port = await freePort();
    const holder = await holdPort(port);
    const config = await makeStack({ api: listenService(port) });
    const up = await bringUp(config, 'api', { force: true });
    expect(isAlive(holder.pid as number)).to.equal(false);
    expect(up.outcome.kind).to.equal('started');
    if (up.outcome.kind === 'started') {
      expect(up.outcome.port.stopped.map((s) => s.holder.pid)).to.deep.equal([holder.pid]);
    }
    expect((await scanPort(port)).map((u) => u.pid)).to.deep.equal([up.record.pid]);
  });

  it('never stops a systemd-managed holder, even with force', async () => {
    const port = await freePort();
    const holder = await holdPort(port);
    const config = await makeStack({ api: listenService(port) });
    const svc = config.services.api as ResolvedConfig['services'][string];
    const error = await failure(
      clearPort(svc, port, {
        stack: stackId(config.name, config.file),
        // The real process table, except that the holder runs in a systemd unit.
        inspector: {
          ...inspector,
          unit: (pid: number) => (pid === holder.pid ? { unit: 'api.service', user: false } : null),
        },
        scanner: scanPort,
        force: true,
      }),
    );
    expect(error.message).to.include('systemd unit api.service');
    // sudo only for a user who is not root already
    const ctl = process.geteuid?.() === 0 ? 'systemctl' : 'sudo systemctl';
    expect(error.hint).to.include(`'${ctl} stop api.service'`);
    expect(isAlive(holder.pid as number)).to.equal(true);
  });

  it('replaces an earlier instance whose record was deleted (found by its marker)', async () => {
    const port = await freePort();
    const config = await makeStack({ api: listenService(port) });
    const first = await bringUp(config, 'api');
    const paths = servicePaths(config.pidDir, 'api');
    unlinkSync(paths.record);
    unlinkSync(paths.pid);
    const second = await bringUp(config, 'api');
    expect(second.outcome.kind).to.equal('started');
    expect(isAlive(first.record.pid)).to.equal(false);
    expect((await scanPort(port)).map((u) => u.pid)).to.deep.equal([second.record.pid]);
  });

  it('replaces an unmarked earlier instance with the same command line and cwd', async () => {
    const port = await freePort();
    const config = await makeStack({ api: listenService(port) });
    const svc = config.services.api as ResolvedConfig['services'][string];
    const plain = spawnPlain([...svc.argv], { PORT: String(port) }, svc.cwd);
    await waitForAsync(async () => (await scanPort(port)).length > 0, 5000, 'the plain copy');
    const up = await bringUp(config, 'api');
    expect(isAlive(plain.pid as number)).to.equal(false);
    if (up.outcome.kind !== 'started') throw new Error('expected a start');
    expect(up.outcome.port.stopped.map((s) => s.holder.kind)).to.deep.equal(['earlier-instance']);
  });

  it("names another stack's service holding the port, and where to stop it", async () => {
    const port = await freePort();
    const first = await makeStack({ api: listenService(port) });
    const second = await makeStack({ api: listenService(port) });
    const up = await bringUp(first, 'api');
    const error = await failure(bringUp(second, 'api'));
    expect(error.code).to.equal('E_PORT_IN_USE');
    expect(error.message).to.include(`pid ${up.record.pid}`);
    expect(error.message).to.include(`service api of launchguard stack ${first.name}`);
    expect(error.hint).to.include(`launchguard down api' in ${first.root}`);
    expect(isAlive(up.record.pid)).to.equal(true);
  });

  it('treats the same command in another cwd as foreign', async () => {
    const port = await freePort();
    const config = await makeStack({ api: listenService(port) });
    const svc = config.services.api as ResolvedConfig['services'][string];
    const plain = spawnPlain([...svc.argv], { PORT: String(port) });
    await waitForAsync(async () => (await scanPort(port)).length > 0, 5000, 'the plain copy');
    const error = await failure(bringUp(config, 'api'));
    expect(error.code).to.equal('E_PORT_IN_USE');
    expect(isAlive(plain.pid as number)).to.equal(true);
  });
});
