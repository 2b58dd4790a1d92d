import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { runCli } from '../helpers/cli.js';
import { markedPids, recordOf, startCli } from '../helpers/e2e.js';
import { BIN, fixture } from '../helpers/paths.js';
import { freePort, listenersOn } from '../helpers/ports.js';
import { isAlive, track, waitFor } from '../helpers/procs.js';
import { listenService, makeStack, spawnPlain } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { STRICT } from '../helpers/users.js';

const HAS_STRACE = spawnSync('strace', ['-V']).status === 0;

/** Runs the CLI under strace (children followed until they exec, then let go); returns the trace lines. */
function traced(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const out = join(tempDir(), 'trace');
  return new Promise((resolve) => {
    const child = spawn(
      'strace',
      [
        '-f',
        '-b',
        'execve',
        '-e',
        'trace=openat,execve',
        '-s',
        '200',
        '-o',
        out,
        process.execPath,
        BIN,
        ...args,
      ],
      { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: 'ignore' },
    );
    track(child.pid as number);
    child.on('close', () => resolve(readFileSync(out, 'utf8').split('\n')));
  });
}

/**
 * The lines where a launcher (a process that exec'd node on the CLI; the
 * services run node too, but from a fixture, never BIN) opened /proc/<pid>/...
 * or /proc/net/... (a trace may hold several launchers: one per command).
 */
function launcherProcReads(lines: readonly string[]): string[] {
  const byPid = (line: string) => line.split(' ')[0] ?? '';
  const launchers = new Set(
    lines.filter((l) => l.includes('execve(') && l.includes(BIN)).map(byPid),
  );
  expect(launchers.size, 'launchers in the trace').to.be.above(0);
  return lines.filter((l) => launchers.has(byPid(l)) && /openat\(.*"\/proc\/(\d+|net)\//.test(l));
}

describe('process backends', () => {
  it('with LAUNCHGUARD_BACKEND=portable the CLI reads processes and sockets through ps and lsof, never /proc', async function () {
    if (!HAS_STRACE) {
      if (STRICT) throw new Error('strace is missing: .ci/run installs it');
      this.skip();
    }
    const config = await makeStack({ api: listenService(await freePort()) });
    const env = { LAUNCHGUARD_BACKEND: 'portable' };
    const lines: string[] = [];
    for (const args of [['up', '-d'], ['status'], ['down']])
      lines.push(...(await traced(args, config.root, env)));
    const procReads = launcherProcReads(lines);
    expect(procReads, 'the launcher opened /proc/<pid>/ or /proc/net/').to.deep.equal([]);
    // The same check sees the /proc backend's reads: it is looking at the launcher.
    const linux = await traced(['status'], config.root, {
      LAUNCHGUARD_BACKEND: '' /* set but empty: this OS's own */,
    });
    expect(launcherProcReads(linux).length, 'the /proc backend, traced the same way').to.be.above(
      0,
    );
    expect(
      lines.some((l) => /execve\("[^"]*\/ps", \["ps"/.test(l)),
      'ps ran',
    ).to.equal(true);
    expect(
      lines.some((l) => /execve\("[^"]*\/lsof", \["lsof"/.test(l)),
      'lsof ran',
    ).to.equal(true);
    expect(markedPids(config)).to.deep.equal([]);
  });

  it('with the portable backend, status of 16 services reads each table once, not once per question', async function () {
    this.timeout(60_000);
    if (!HAS_STRACE) {
      if (STRICT) throw new Error('strace is missing: .ci/run installs it');
      this.skip();
    }
    // A command line of its own (tests running in parallel start listen.mjs too).
    const script = join(tempDir(), 'listen-here.mjs');
    copyFileSync(fixture('listen.mjs'), script);
    const services: Record<string, ReturnType<typeof listenService>> = {};
    for (let i = 0; i < 16; i++)
      services[`s${i}`] = {
        ...listenService(await freePort()),
        command: [process.execPath, script],
        // 16 Node services booting beside two parallel test passes on 2 cores: give them time
        // (this test counts ps and lsof runs, not seconds).
        readyTimeout: 30_000,
      };
    const config = await makeStack(services);
    const env = { LAUNCHGUARD_BACKEND: 'portable' };
    // Copies of the same command elsewhere (another checkout): status asks for their folders.
    const copies = [1, 2, 3, 4].map(() =>
      spawnPlain([process.execPath, script], { PORT: '0' }, tempDir()),
    );
    await waitFor(() => copies.every((c) => isAlive(c.pid as number)), 5000, 'the copies');
    try {
      const up = await runCli(['up', '-d'], { cwd: config.root, env });
      expect(up.code, up.stderr).to.equal(0);
      const lines = await traced(['status'], config.root, env);
      // Successful execs only (strace also shows the PATH lookups that failed, `= -1 ENOENT`).
      const runs = (tool: string) =>
        lines.filter(
          (l) =>
            new RegExp(`execve\\("[^"]*/${tool}", \\["${tool}"`).test(l) && !l.includes('= -1'),
        );
      expect(runs('ps').length, 'ps runs for one status').to.be.at.most(6);
      // The listeners once, and each copy's folder once (not once per service).
      expect(runs('lsof').length, 'lsof runs for one status').to.be.at.most(1 + copies.length);
    } finally {
      await runCli(['down'], { cwd: config.root, env });
    }
  });

  describe('without verifiable identities (Windows; LAUNCHGUARD_BACKEND=none)', () => {
    const env = { LAUNCHGUARD_BACKEND: 'none' };

    it('refuses up -d and restart with a clear error, starting nothing', async () => {
      const port = await freePort();
      const config = await makeStack({ api: listenService(port) });
      for (const args of [['up', '-d'], ['restart']]) {
        const result = await runCli(args, { cwd: config.root, env });
        expect(result.code, args.join(' ')).to.equal(2);
        expect(result.stderr).to.match(/detached services are not supported on linux/);
        expect(result.stderr).to.match(/hint: use foreground 'launchguard up'/);
      }
      expect(listenersOn(port)).to.have.length(0);
      expect(recordOf(config, 'api')).to.equal(null);
    });

    it('foreground up starts the stack and stops what it started itself on Ctrl-C', async () => {
      const port = await freePort();
      const config = await makeStack({ api: listenService(port) });
      const up = startCli(['up'], config.root, env);
      await waitFor(() => up.output().includes('press Ctrl-C to stop'), 10_000, 'the stack');
      const pid = recordOf(config, 'api')?.pid as number;
      up.child.kill('SIGINT');
      expect(await up.exited, up.output()).to.equal(0);
      await waitFor(() => !isAlive(pid), 3000, 'the service to be stopped');
      expect(recordOf(config, 'api')).to.equal(null);
    });

    it('run starts the stack, runs the command and stops the stack', async () => {
      const port = await freePort();
      const config = await makeStack({ api: listenService(port) });
      const result = await runCli(
        ['run', '--', 'node', '-e', 'process.exit(+process.env.API_PORT ? 0 : 9)'],
        {
          cwd: config.root,
          env,
        },
      );
      expect(result.code, result.stderr).to.equal(0);
      expect(listenersOn(port)).to.have.length(0);
      expect(markedPids(config)).to.deep.equal([]);
    });
  });
});
