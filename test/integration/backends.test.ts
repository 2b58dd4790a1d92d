import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { downStack } from '../../lib/orchestrate/down.js';
import { startService } from '../../lib/orchestrate/start-service.js';
import { portableInspector } from '../../lib/os/portable.js';
import { listenerScanner } from '../../lib/ports/scan.js';
import { runCli } from '../helpers/cli.js';
import { markedPids, recordOf, startCli } from '../helpers/e2e.js';
import { BIN, fixture } from '../helpers/paths.js';
import { freePort, holdPort, listenersOn } from '../helpers/ports.js';
import { isAlive, track, waitFor } from '../helpers/procs.js';
import { listenService, makeStack, nodeFixture, spawnPlain } from '../helpers/stack.js';
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

  describe('the portable backend when ps is slow (a busy machine, macOS)', () => {
    /** A `ps` first in PATH that logs each run (its PID and arguments), waits, then runs the real one. */
    function slowPs(delaySeconds: number): { log: string; restore: () => void } {
      const real = spawnSync('sh', ['-c', 'command -v ps'], { encoding: 'utf8' }).stdout.trim();
      expect(real, 'ps is installed').to.match(/^\//);
      const bin = tempDir();
      const log = join(bin, 'runs');
      writeFileSync(log, '');
      writeFileSync(
        join(bin, 'ps'),
        `#!/bin/sh\necho "$$ $*" >> '${log}'\nsleep ${delaySeconds}\nexec '${real}' "$@"\n`,
        { mode: 0o755 },
      );
      const path = process.env.PATH;
      process.env.PATH = `${bin}:${path ?? ''}`;
      return {
        log,
        restore: () => {
          process.env.PATH = path;
        },
      };
    }

    it('answers a whole pass over the table from one read of each, without the ps that read it', () => {
      // 50 ms a run, longer than a snapshot's 20 ms: on the code before, the table and the
      // environments were read again during the pass, up to once per process.
      const ps = slowPs(0.05);
      try {
        const inspector = portableInspector('linux');
        const pids = inspector.listPids();
        for (const pid of pids) {
          inspector.lookup(pid);
          inspector.environ(pid, 'LAUNCHGUARD_INSTANCE');
        }
        const runs = readFileSync(ps.log, 'utf8').split('\n').filter(Boolean);
        expect(
          runs.filter((r) => / -A /.test(r)),
          'table reads',
        ).to.have.length(1);
        expect(
          runs.filter((r) => / axeww /.test(r)),
          'environment reads',
        ).to.have.length(1);
        expect(
          runs.filter((r) => / -p /.test(r)),
          'single lookups',
        ).to.deep.equal([]);
        const readers = runs.map((r) => Number(r.split(' ')[0]));
        expect(
          pids.filter((p) => readers.includes(p)),
          'ps in its own table',
        ).to.deep.equal([]);
        expect(pids, 'this process').to.include(process.pid);
      } finally {
        ps.restore();
      }
    });

    it('names the holder of a port that opened after the table was read', async function () {
      this.timeout(20_000);
      // A snapshot of a slow ps lives long (twice its read): the table read before the holder
      // started must not be the one its port is matched against.
      const ps = slowPs(0.3);
      try {
        const inspector = portableInspector('linux');
        inspector.listPids(); // the table, read before the holder exists
        const port = await freePort();
        const holder = await holdPort(port);
        const uses = await listenerScanner(inspector)(port);
        expect(uses.map((u) => u.pid)).to.deep.equal([holder.pid]);
      } finally {
        ps.restore();
      }
    });

    it('stops 12 services with a few reads of the table, not several per service', async function () {
      this.timeout(60_000);
      const services: Record<string, { command: string[] }> = {};
      for (let i = 0; i < 12; i++) services[`s${i}`] = { command: nodeFixture('sleep.mjs') };
      const config = await makeStack(services);
      const inspector = portableInspector('linux');
      for (const name of Object.keys(services)) {
        const started = await startService(config, name, { inspector });
        expect(started.kind).to.equal('started');
        if (started.kind === 'started') track(started.record.pid);
      }
      const ps = slowPs(0.03);
      try {
        const result = await downStack(config, { inspector });
        expect(result.clean).to.equal(true);
      } finally {
        ps.restore();
      }
      const runs = readFileSync(ps.log, 'utf8').split('\n').filter(Boolean);
      // 4 here; the code before ran ps 176 times (the table and the environments again during
      // each pass, a `ps -p` for each process it had just seen exit).
      expect(runs.length, runs.join('\n')).to.be.at.most(12);
      expect(
        runs.filter((r) => / -p /.test(r)),
        'single lookups',
      ).to.have.length.at.most(2);
      expect(markedPids(config)).to.deep.equal([]);
    });
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
