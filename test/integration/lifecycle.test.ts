import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { launch } from '../../lib/api.js';
import { hasStackTrace, runCli } from '../helpers/cli.js';
import { markedPids, recordOf, startCli, waitReady } from '../helpers/e2e.js';
import { BIN, fixture } from '../helpers/paths.js';
import { freePort, listenersOn } from '../helpers/ports.js';
import { isAlive, pidsIn, SLACK_MS, track, waitFor } from '../helpers/procs.js';
import { startProcess } from '../helpers/run.js';
import { listenService, makeStack, nodeFixture } from '../helpers/stack.js';
import { project, removeWhileKept, tempDir } from '../helpers/tmp.js';

const NODE = JSON.stringify(process.execPath);
const CLI = `${NODE} ${JSON.stringify(BIN)}`;

/** Runs a shell pipeline in its own process group, tracked; resolves with its output and code. */
function pipeline(script: string, cwd: string, env: NodeJS.ProcessEnv = {}) {
  const run = startProcess(['sh', '-c', script], { cwd, env, detached: true, timeout: 60_000 });
  return {
    child: run.child,
    out: run.stdout,
    err: run.stderr,
    done: run.ended.then((r) => r.code),
  };
}

/** Run by `run`'s command: connects to the api's port (API_PORT), exits 0 if it answers. */
const PROBE_LATER = `const s=require('net').connect(+process.env.API_PORT,'127.0.0.1');s.on('connect',()=>process.exit(0));s.on('error',e=>{console.error(e.code);process.exit(7)})`;

/**
 * Run by `run`'s command: ends once `n` users hold a lease on a service of the
 * state folder `pids` (so the other run's launcher has surely joined, however
 * slow it starts under load); exits 9 after 20 s.
 */
function untilLeases(pids: string, n: number): string {
  return `const fs=require('fs');const t0=Date.now();const t=setInterval(()=>{if(fs.readdirSync(${JSON.stringify(pids)}).filter(f=>f.endsWith('.lease')).length>=${n}){clearInterval(t)}else if(Date.now()-t0>20000)process.exit(9)},20)`;
}

describe('lifecycle: nothing orphaned, nothing stopped from under its users', () => {
  describe('closed output never decides the lifecycle', () => {
    it('up | head -2: the launcher stops what it started and exits, no stack trace', async () => {
      const config = await makeStack({ talk: { command: nodeFixture('chatty.mjs') } });
      const run = pipeline(`${CLI} up | head -2`, config.root);
      await run.done;
      await waitFor(() => markedPids(config).length === 0, 8000, 'the services to be stopped');
      expect(hasStackTrace(run.err()), run.err()).to.equal(false);
      expect(recordOf(config, 'talk')).to.equal(null);
    });

    it('up | tee log, then Ctrl-C to the pipeline: no orphan, no stack trace', async () => {
      const config = await makeStack({ talk: { command: nodeFixture('chatty.mjs') } });
      const log = join(tempDir(), 'log');
      const run = pipeline(`${CLI} up | tee ${log}`, config.root);
      await waitFor(() => recordOf(config, 'talk') !== null, 8000, 'the service');
      await sleep(200);
      process.kill(-(run.child.pid as number), 'SIGINT'); // the terminal's Ctrl-C: the whole group
      await run.done;
      await waitFor(() => markedPids(config).length === 0, 8000, 'the services to be stopped');
      expect(hasStackTrace(run.err()), run.err()).to.equal(false);
      expect(recordOf(config, 'talk')).to.equal(null);
    });

    it('logs | head -1 ends at once, without a stack trace', async () => {
      const config = await makeStack({
        talk: { command: nodeFixture('chatty.mjs'), env: { INTERVAL: '1' } },
      });
      expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
      await waitFor(
        () => statSync(join(config.pidDir, 'talk.log')).size > 20_000,
        8000,
        'a long log',
      );
      const run = pipeline(
        `${CLI} logs -n 100000 | head -1; ${CLI} logs -f | head -1`,
        config.root,
      );
      const code = await Promise.race([run.done, sleep(8000).then(() => 'hung')]);
      expect(code).not.to.equal('hung');
      expect(hasStackTrace(run.err()), run.err()).to.equal(false);
      expect(run.out()).to.match(/^talk \| /);
    });
  });

  describe('several users of one stack', () => {
    it('two overlapping runs: the first to finish leaves the stack to the second; the last one out stops it', async () => {
      const port = await freePort();
      const config = await makeStack({ api: listenService(port) });
      const first = startCli(
        ['run', '--', 'node', '-e', untilLeases(config.pidDir, 2)],
        config.root,
      );
      await waitReady(config, ['api']);
      const second = startCli(
        ['run', '--', 'node', '-e', `setTimeout(()=>{${PROBE_LATER}},1500)`],
        config.root,
      );
      expect(await first.exited, first.output()).to.equal(0);
      expect(listenersOn(port).length, 'still up after the first run').to.be.greaterThan(0);
      expect(await second.exited, second.output()).to.equal(0);
      await waitFor(() => markedPids(config).length === 0, 5000, 'the last one out to stop it');
      expect(recordOf(config, 'api')).to.equal(null);
    });

    it('two launch() handles: stop() of the first keeps the service for the second', async () => {
      const config = await makeStack({ api: listenService('auto') });
      const a = await launch({ cwd: config.root });
      const b = await launch({ cwd: config.root });
      expect(b.services[0]?.outcome).to.equal('kept');
      await a.stop();
      expect(listenersOn(a.port('api')).length, 'still up for the second handle').to.be.greaterThan(
        0,
      );
      await b.stop();
      expect(markedPids(config)).to.deep.equal([]);
      expect(recordOf(config, 'api')).to.equal(null);
    });

    it('down is final: a foreground up does not restart what down stopped, and ends', async () => {
      const config = await makeStack({ api: listenService('auto', {}, { restart: 'always' }) });
      const up = startCli(['up'], config.root);
      await waitReady(config, ['api']);
      const down = await runCli(['down'], { cwd: config.root });
      expect(down.code, down.stderr).to.equal(0);
      const code = await Promise.race([up.exited, sleep(5000).then(() => 'still running')]);
      expect(code, up.output()).to.equal(0);
      expect(up.output()).to.match(/api: stopped by launchguard down/);
      expect(up.output()).not.to.match(/restart 1\//);
      expect(up.output(), 'no second word on it').not.to.match(/api was not running/);
      expect(markedPids(config)).to.deep.equal([]);
      expect(recordOf(config, 'api')).to.equal(null);
    });

    it('a restart from elsewhere is not fought: the foreground up says the service was replaced', async () => {
      const config = await makeStack({ api: listenService('auto') });
      const up = startCli(['up'], config.root);
      await waitReady(config, ['api']);
      const first = recordOf(config, 'api')?.pid;
      const restart = await runCli(['restart'], { cwd: config.root });
      expect(restart.code, restart.stderr).to.equal(0);
      const code = await Promise.race([up.exited, sleep(5000).then(() => 'still running')]);
      expect(code, up.output()).to.equal(0);
      expect(up.output()).to.match(/api: replaced by another launchguard \(now pid \d+/);
      expect(up.output()).not.to.match(/api exited/);
      const now = recordOf(config, 'api');
      expect(now?.pid).to.be.a('number').and.not.equal(first);
      expect(isAlive(now?.pid as number), 'the new instance stays (restart detaches it)').to.equal(
        true,
      );
      expect((await runCli(['down'], { cwd: config.root })).code).to.equal(0);
    });

    it('down is final for launch() too: its handle does not restart what down stopped', async () => {
      const config = await makeStack({ api: listenService('auto', {}, { restart: 'always' }) });
      const events: string[] = [];
      const stack = await launch({ cwd: config.root, onEvent: (e) => events.push(e.type) });
      const down = await runCli(['down'], { cwd: config.root });
      expect(down.code, down.stderr).to.equal(0);
      await waitFor(() => events.includes('taken-down'), 3000, 'the handle to hear of the down');
      await sleep(800); // longer than the first restart back-off (500 ms)
      expect(events).not.to.include('restarting');
      expect(markedPids(config)).to.deep.equal([]);
      await stack.stop();
    });

    it('up -d pins what it starts or keeps: a run that kept it leaves it running', async () => {
      const port = await freePort();
      const config = await makeStack({ api: listenService(port) });
      // The run's command ends once up -d has pinned the service (however slow it starts).
      const pinned = `const fs=require('fs');const f=${JSON.stringify(`${config.pidDir}/api.json`)};const t0=Date.now();const t=setInterval(()=>{try{if(JSON.parse(fs.readFileSync(f,'utf8')).detached===true)clearInterval(t)}catch{}if(Date.now()-t0>20000)process.exit(9)},20)`;
      const run = startCli(['run', '--', 'node', '-e', pinned], config.root);
      await waitReady(config, ['api']);
      expect((await runCli(['up', '-d'], { cwd: config.root })).stdout).to.include('kept');
      expect(await run.exited).to.equal(0);
      expect(listenersOn(port).length, 'up -d asked for it to stay').to.be.greaterThan(0);
      const down = await runCli(['down'], { cwd: config.root });
      expect(down.code).to.equal(0);
      expect(markedPids(config)).to.deep.equal([]);
    });
  });

  it('after a switch of LAUNCHGUARD_BACKEND, down stops the service by its marker and keeps no record', async () => {
    // A user who switched backends while the stack ran (the README says not to): the record
    // cannot be verified under the other backend, the process can be found by its marker.
    const portable = process.env.LAUNCHGUARD_BACKEND === 'portable';
    const before = { LAUNCHGUARD_BACKEND: portable ? undefined : 'portable' };
    const after = { LAUNCHGUARD_BACKEND: portable ? 'portable' : undefined };
    const config = await makeStack({ api: listenService(await freePort()) });
    const up = await runCli(['up', '-d'], { cwd: config.root, env: before });
    expect(up.code, up.stderr).to.equal(0);
    const pid = track(recordOf(config, 'api')?.pid as number);
    const down = await runCli(['down'], { cwd: config.root, env: after });
    // Before: 'stopped a leftover of api (pid P)', then 'api: pid P cannot be verified ...;
    // record kept', exit 1, and so at every later down, over a process long gone.
    expect(down.code, down.stdout + down.stderr).to.equal(0);
    expect(down.stdout).to.include(`stopped a leftover of api (pid ${pid})`);
    expect(down.stdout + down.stderr).not.to.include('cannot be verified');
    expect(isAlive(pid)).to.equal(false);
    expect(recordOf(config, 'api')).to.equal(null);
    expect(markedPids(config)).to.deep.equal([]);
    expect((await runCli(['down'], { cwd: config.root, env: after })).code).to.equal(0);
  });

  it('down without a state folder finds the services by their marker and exits 0', async () => {
    const config = await makeStack({ api: listenService(await freePort()) });
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    await removeWhileKept(config.pidDir);
    const down = await runCli(['down'], { cwd: config.root });
    expect(down.code, down.stderr).to.equal(0);
    expect(down.stdout).to.match(/stopped a leftover of api/);
    expect(markedPids(config)).to.deep.equal([]);
  });

  describe('commands end when their work ends', () => {
    it('a config that leaves a handle open does not keep validate, status, up -d or down alive', async () => {
      const port = await freePort();
      const dir = project({
        'launch.config.mjs': `setInterval(() => {}, 1000);\nexport default { services: { api: { command: ${JSON.stringify(nodeFixture('listen.mjs'))}, port: ${port} } } };\n`,
      });
      for (const args of [['validate'], ['up', '-d'], ['status'], ['down']]) {
        const result = await runCli(args, { cwd: dir, timeout: 8000 });
        expect(result.signal, `${args.join(' ')} hung`).to.equal(null);
      }
      expect(listenersOn(port)).to.have.length(0);
    });

    it('a config that never settles is a clear error after the load timeout (exit 2)', async () => {
      const dir = project({ 'launch.config.mjs': 'export default new Promise(() => {});\n' });
      const result = await runCli(['status'], {
        cwd: dir,
        env: { LAUNCHGUARD_CONFIG_TIMEOUT: '500' },
        timeout: 8000,
      });
      expect(result.code).to.equal(2);
      expect(result.stderr).to.include(join(dir, 'launch.config.mjs'));
      expect(result.stderr).to.match(/did not finish loading within 500 ms/);
    });
  });

  it('a 150 MB line without a newline keeps the foreground launcher under 200 MB', async function () {
    this.timeout(60_000);
    const config = await makeStack({ big: { command: nodeFixture('long-line.mjs') } });
    const up = startCli(['up'], config.root);
    const log = join(config.pidDir, 'big.log');
    await waitFor(
      () => {
        try {
          return readFileSync(log, 'latin1').endsWith('done\n');
        } catch {
          return false;
        }
      },
      40_000,
      'the long line to be written',
    );
    await sleep(300);
    const status = readFileSync(`/proc/${up.child.pid}/status`, 'utf8');
    const peakMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
    up.child.kill('SIGINT');
    expect(await up.exited).to.equal(0); // a clean Ctrl-C
    expect(peakMb, 'launcher peak RSS, MB').to.be.below(200);
    expect(up.output()).to.include('(line cut at 64 KiB)');
  });

  it('an exec probe runs in its own group and is killed at the readiness deadline', async () => {
    // sh forks sleep (the trailing `true` keeps it from exec'ing): a tree, not one process.
    const marker = `sleep\u0000777.${process.pid}`;
    const config = await makeStack({
      api: {
        command: nodeFixture('sleep.mjs'),
        ready: { exec: ['sh', '-c', `sleep 777.${process.pid}; true`] },
        readyTimeout: 1000,
      },
    });
    const started = Date.now();
    const up = await runCli(['up', '-d'], { cwd: config.root });
    expect(up.code).to.equal(1);
    expect(Date.now() - started, 'bounded by the readiness timeout').to.be.below(4000 + SLACK_MS);
    await sleep(100);
    const left = (await import('node:fs'))
      .readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith(marker);
        } catch {
          return false;
        }
      });
    expect(left, 'probe processes left').to.deep.equal([]);
  });

  describe('run', () => {
    for (const [sig, code] of [
      ['SEGV', 139],
      ['ABRT', 134],
      ['TERM', 143],
      ['PIPE', 141],
    ] as const) {
      it(`exits 128+n when the command is killed by SIG${sig} (${code})`, async () => {
        const config = await makeStack({ api: listenService(await freePort()) });
        const result = await runCli(['run', '--', 'sh', '-c', `kill -${sig} $$`], {
          cwd: config.root,
        });
        expect(result.code).to.equal(code);
      });
    }

    it('stops the command’s whole process group on SIGTERM (a backgrounded grandchild too)', async () => {
      const config = await makeStack({ api: listenService(await freePort()) });
      const pidFile = join(tempDir(), 'pids');
      const run = startCli(
        ['run', '--', 'sh', '-c', `sleep 300 & echo $! > ${pidFile}; wait`],
        config.root,
      );
      await waitFor(() => pidsIn(pidFile).length === 1, 8000, 'the grandchild');
      const grandchild = pidsIn(pidFile)[0] as number;
      track(grandchild);
      run.child.kill('SIGTERM');
      expect(await run.exited).to.equal(143);
      await waitFor(() => !isAlive(grandchild), 3000, 'the grandchild to be stopped');
      expect(markedPids(config)).to.deep.equal([]);
    });
  });

  it('replaces a copy started by hand from the same shell (the README example), without job control', async () => {
    const port = await freePort();
    const config = await makeStack({ api: listenService(port) });
    const command = `${NODE} ${JSON.stringify(fixture('listen.mjs'))}`;
    const run = pipeline(
      `PORT=${port} ${command} & echo $! > started.pid; sleep 0.5; exec ${CLI} up -d api`,
      config.root,
    );
    const startedPid = join(config.root, 'started.pid');
    await waitFor(() => pidsIn(startedPid).length === 1, 5000, 'the copy started by hand');
    const byHand = track(pidsIn(startedPid)[0] as number);
    const code = await run.done;
    expect(code, run.err()).to.equal(0);
    expect(isAlive(byHand), 'the copy started by hand').to.equal(false);
    expect(run.out()).to.match(/stopped an earlier instance of port/);
    expect(recordOf(config, 'api')?.pid).not.to.equal(byHand);
  });
});
