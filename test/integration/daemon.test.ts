import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { hasStackTrace, runCli } from '../helpers/cli.js';
import { recordOf } from '../helpers/e2e.js';
import { freePort, listenersOn } from '../helpers/ports.js';
import { isAlive, track, waitFor } from '../helpers/procs.js';
import { makeStack, nodeFixture } from '../helpers/stack.js';
import { removeWhileKept } from '../helpers/tmp.js';
import { requireTool } from '../helpers/users.js';

/** A service whose command daemonizes (double fork, setsid, empty environment). */
async function daemonStack(withPidFile: boolean) {
  const port = await freePort();
  const config = await makeStack({
    cache: {
      command: nodeFixture('daemon.mjs'),
      env: { PORT: String(port), PID_FILE: 'cache.pid', DELAY: '150' },
      port,
      readyTimeout: 5000,
      stopTimeout: 2000,
      ...(withPidFile ? { pidFile: 'cache.pid' } : {}),
    },
  });
  const pidFile = join(config.root, 'cache.pid');
  /** The daemon's PID, as it wrote it (tracked, so the tests end it whatever happens). */
  const daemonPid = async () => {
    await waitFor(() => {
      try {
        return /^\d+\n$/.test(readFileSync(pidFile, 'utf8'));
      } catch {
        return false;
      }
    }, 5000);
    return track(Number(readFileSync(pidFile, 'utf8')));
  };
  return { config, port, daemonPid };
}

describe('daemons: a command that forks into the background', () => {
  it('with pidFile: up -d follows the daemon (its pid, its port), and down leaves nothing', async () => {
    const { config, port, daemonPid } = await daemonStack(true);
    const up = await runCli(['up', '-d'], { cwd: config.root });
    expect(up.code, up.stderr).to.equal(0);
    const pid = await daemonPid();
    expect(recordOf(config, 'cache')?.pid, 'the record names the daemon').to.equal(pid);
    expect(up.stdout).to.include(`(pid ${pid})`);
    const status = await runCli(['status'], { cwd: config.root });
    expect(status.code, status.stdout).to.equal(0);
    const down = await runCli(['down'], { cwd: config.root });
    expect(down.code, down.stderr).to.equal(0);
    expect(down.stdout).to.include(`stopped cache (pid ${pid}`);
    await waitFor(() => !isAlive(pid), 3000, 'the daemon to end');
    expect(listenersOn(port)).to.have.length(0);
  });

  it('without pidFile: up -d fails naming the daemon that got away, and the fix', async () => {
    const { config, daemonPid } = await daemonStack(false);
    const up = await runCli(['up', '-d'], { cwd: config.root });
    const pid = await daemonPid();
    try {
      expect(up.code).to.equal(1);
      expect(up.stderr).to.include(`left a daemon behind: pid ${pid}`);
      expect(up.stderr).to.include('pidFile');
      expect(hasStackTrace(up.stderr)).to.equal(false);
      expect(isAlive(pid), 'not stopped: nothing proves it is the service').to.equal(true);
      expect(recordOf(config, 'cache')).to.equal(null);
    } finally {
      process.kill(pid, 'SIGKILL'); // ours: this test's daemon, tracked by PID
    }
  });

  it('down after rm -rf .pids names a daemon that lost its marker on the port; --force stops it', async () => {
    const { config, port, daemonPid } = await daemonStack(true);
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    const pid = await daemonPid();
    await removeWhileKept(config.pidDir);
    const down = await runCli(['down'], { cwd: config.root });
    expect(down.code).to.equal(1);
    expect(down.stdout).to.include(`port ${port} is still held by pid ${pid}`);
    expect(down.stdout).to.include('down --force cache');
    expect(isAlive(pid)).to.equal(true);
    const forced = await runCli(['down', '--force'], { cwd: config.root });
    expect(forced.code, forced.stdout + forced.stderr).to.equal(0);
    expect(forced.stdout).to.include(`stopped pid ${pid}`);
    await waitFor(() => !isAlive(pid), 3000, 'the daemon to end');
    expect(listenersOn(port)).to.have.length(0);
  });

  it('a real redis-server --daemonize yes with a pidFile: followed, answered, stopped', async function () {
    requireTool(this, 'redis-server', ['--version']);
    const port = await freePort();
    const config = await makeStack({
      redis: {
        command: `redis-server --port ${port} --bind 127.0.0.1 --daemonize yes --pidfile redis.pid --save "" --appendonly no --dir .`,
        port,
        pidFile: 'redis.pid',
        readyTimeout: 10_000,
      },
    });
    const up = await runCli(['up', '-d'], { cwd: config.root });
    expect(up.code, up.stderr).to.equal(0);
    const pid = track(recordOf(config, 'redis')?.pid as number);
    expect(readFileSync(join(config.root, 'redis.pid'), 'utf8').trim()).to.equal(String(pid));
    expect(listenersOn(port).length).to.be.above(0);
    const down = await runCli(['down'], { cwd: config.root });
    expect(down.code, down.stdout + down.stderr).to.equal(0);
    await waitFor(() => !isAlive(pid), 5000, 'redis to end');
    expect(listenersOn(port)).to.have.length(0);
  });
});
