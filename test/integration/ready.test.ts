import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { bringUp } from '../../lib/orchestrate/bring-up.js';
import { servicePaths } from '../../lib/state/paths.js';
import { portOf, portsOf } from '../../lib/state/record.js';
import { fixture } from '../helpers/paths.js';
import { freePort, holdPort } from '../helpers/ports.js';
import { isAlive, pidsIn, SLACK_MS, waitFor } from '../helpers/procs.js';
import { failure, listenService, makeStack, nodeFixture } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

describe('readiness', () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`the TCP check passes for a service listening only on ${host}`, async () => {
      const port = await freePort();
      const config = await makeStack({ api: listenService(port, { HOST: host, QUIET: '1' }) });
      const up = await bringUp(config, 'api');
      expect(up.ready.attempts).to.be.greaterThan(0);
      expect(isAlive(up.record.pid)).to.equal(true);
    });
  }

  it('the HTTP check passes on 2xx and names the status it got otherwise', async () => {
    const port = await freePort();
    const ok = await makeStack({ api: listenService(port, {}, { ready: { http: '/health' } }) });
    await bringUp(ok, 'api');
    const port2 = await freePort();
    const bad = await makeStack({
      api: listenService(
        port2,
        { STATUS: '500' },
        { ready: { http: '/health' }, readyTimeout: 500 },
      ),
    });
    const error = await failure(bringUp(bad, 'api'));
    expect(error.code).to.equal('E_NOT_READY');
    expect(error.message).to.include('answered 500');
  });

  it('the HTTP check accepts a listed status', async () => {
    const port = await freePort();
    const config = await makeStack({
      api: listenService(port, { STATUS: '418' }, { ready: { http: '/', status: [418] } }),
    });
    expect((await bringUp(config, 'api')).record.pid).to.be.a('number');
  });

  it('the log check passes on a matching line and times out without one', async () => {
    const port = await freePort();
    const config = await makeStack({
      api: listenService(port, { DELAY: '100' }, { ready: { log: 'listening on' } }),
    });
    await bringUp(config, 'api');
    const silent = await makeStack({
      api: listenService(
        await freePort(),
        { QUIET: '1' },
        { ready: { log: 'listening on' }, readyTimeout: 400 },
      ),
    });
    const error = await failure(bringUp(silent, 'api'));
    expect(error.code).to.equal('E_NOT_READY');
    expect(error.message).to.include('no log line matched');
  });

  it('the exec check passes when the command exits 0 and times out when it keeps failing', async () => {
    const port = await freePort();
    const check = (file: string) => [
      process.execPath,
      '-e',
      `process.exit(require('fs').existsSync(${JSON.stringify(file)}) ? 0 : 1)`,
    ];
    const ok = await makeStack({
      api: listenService(port, {}, { ready: { exec: check(fixture('listen.mjs')) } }),
    });
    await bringUp(ok, 'api');
    const never = await makeStack({
      api: listenService(
        await freePort(),
        {},
        { ready: { exec: check('/nonexistent') }, readyTimeout: 500 },
      ),
    });
    const error = await failure(bringUp(never, 'api'));
    expect(error.message).to.include('exited with code 1');
  });

  it("an exec check runs with the service's environment: PORT, <NAME>_PORT, its env", async () => {
    const port = await freePort();
    const wants = { PORT: `${port}`, API_PORT: `${port}`, MODE: 'check' };
    const check = [
      process.execPath,
      '-e',
      `const want = ${JSON.stringify(wants)}; process.exit(Object.entries(want).every(([k, v]) => process.env[k] === v) ? 0 : 1)`,
    ];
    const config = await makeStack({
      api: listenService(port, { MODE: 'check' }, { ready: { exec: check }, readyTimeout: 3000 }),
    });
    expect((await bringUp(config, 'api')).outcome.kind).to.equal('started');
  });

  it('a never-ready service fails at its timeout, its tree stopped and no record left', async () => {
    const pidFile = join(tempDir(), 'pids');
    // A shell tree (sh -> sh -> sleep) is complete within milliseconds, long before the
    // timeout, even on a loaded machine (a tree of node processes may not be).
    const tree = `echo $$ >> "$PID_FILE"; sh -c 'echo $$ >> "$PID_FILE"; sleep 1000 & echo $! >> "$PID_FILE"; wait' & wait`;
    const config = await makeStack({
      api: {
        command: ['sh', '-c', tree],
        env: { PID_FILE: pidFile },
        ready: { tcp: await freePort() },
        readyTimeout: 800,
      },
    });
    const started = Date.now();
    const failing = failure(bringUp(config, 'api'));
    await waitFor(() => pidsIn(pidFile).length === 3, 700, 'the tree to be complete');
    const error = await failing;
    const took = Date.now() - started;
    expect(error.code).to.equal('E_NOT_READY');
    expect(error.message).to.include('not ready after 800 ms');
    expect(took).to.be.within(750, 3000 + SLACK_MS);
    expect(pidsIn(pidFile)).to.have.length(3);
    expect(pidsIn(pidFile).filter(isAlive)).to.deep.equal([]);
    expect(existsSync(servicePaths(config.pidDir, 'api').record)).to.equal(false);
  });

  it('a service that exits before it is ready fails at once with its code and output tail', async () => {
    const config = await makeStack({
      api: { command: nodeFixture('exit-early.mjs'), port: await freePort(), readyTimeout: 20_000 },
    });
    const started = Date.now();
    const error = await failure(bringUp(config, 'api'));
    expect(Date.now() - started).to.be.below(5000 + SLACK_MS);
    expect(error.code).to.equal('E_EXITED');
    expect(error.message).to.equal('api: exited with code 3 before it was ready');
    const details = (error.details ?? []).join('\n');
    expect(details).to.include('fatal: cannot connect to the database');
    expect(details).to.include('line 30');
    expect(details).not.to.match(/line 1$/m);
    expect(existsSync(servicePaths(config.pidDir, 'api').record)).to.equal(false);
  });

  it('reports a service killed by a signal before it is ready', async () => {
    const config = await makeStack({
      api: {
        command: nodeFixture('exit-early.mjs'),
        env: { SIGNAL: 'SIGKILL' },
        port: await freePort(),
      },
    });
    const error = await failure(bringUp(config, 'api'));
    expect(error.message).to.include('was killed by SIGKILL');
  });

  it('a stale foreign server on the checked port does not make a start look ready', async () => {
    const port = await freePort();
    const holder = await holdPort(port);
    const config = await makeStack({
      api: { command: nodeFixture('sleep.mjs'), ready: { tcp: port }, readyTimeout: 600 },
    });
    const error = await failure(bringUp(config, 'api'));
    expect(error.code).to.equal('E_NOT_READY');
    expect(error.message).to.include(`answered by pid ${holder.pid}, not by api`);
    expect(isAlive(holder.pid as number)).to.equal(true);
  });

  it("an 'auto' port is exported as PORT and <NAME>_PORT and recorded", async () => {
    const config = await makeStack({
      api: listenService('auto'),
      web: {
        command: nodeFixture('listen.mjs'),
        port: 'auto',
        dependsOn: ['api'],
      },
    });
    const ports: Record<string, number> = {};
    const api = await bringUp(config, 'api', { ports });
    const web = await bringUp(config, 'web', { ports });
    const apiPort = portOf(api.record, 'api');
    expect(apiPort).to.be.a('number');
    expect(portsOf(web.record)).to.deep.equal({ api: apiPort, web: portOf(web.record, 'web') });
    const environ = readFileSync(`/proc/${web.record.pid}/environ`, 'utf8').split('\0');
    expect(environ).to.include(`API_PORT=${apiPort}`);
    expect(environ).to.include(`PORT=${portOf(web.record, 'web')}`);
  });

  it("an 'auto' port lost to another process before the bind is picked again", async () => {
    const config = await makeStack({ api: listenService('auto', { DELAY: '400' }) });
    const record = join(config.pidDir, 'api.json');
    const starting = bringUp(config, 'api');
    await waitFor(() => existsSync(record), 5000, 'the record');
    const taken = portOf(JSON.parse(readFileSync(record, 'utf8')), 'api') as number;
    const thief = await holdPort(taken);
    const up = await starting;
    expect(portOf(up.record, 'api')).to.be.a('number');
    expect(portOf(up.record, 'api')).not.to.equal(taken);
    expect(isAlive(thief.pid as number)).to.equal(true);
  });
});
