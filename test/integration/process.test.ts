import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { downStack } from '../../lib/orchestrate/down.js';
import { startService } from '../../lib/orchestrate/start-service.js';
import { systemInspector } from '../../lib/os/inspector.js';
import { stopInstance } from '../../lib/process/stop.js';
import { findMarked } from '../../lib/process/sweep.js';
import { acquireLock } from '../../lib/state/lock.js';
import { stackId } from '../../lib/state/marker.js';
import { servicePaths } from '../../lib/state/paths.js';
import { fixture, ROOT } from '../helpers/paths.js';
import { isAlive, isAliveNow, pidsIn, SLACK_MS, track, waitFor } from '../helpers/procs.js';
import { runProcess } from '../helpers/run.js';
import { failure, makeStack, nodeFixture, spawnPlain } from '../helpers/stack.js';
import { project } from '../helpers/tmp.js';

const inspector = systemInspector();

/** Starts a service that must start (not already running) and returns its outcome. */
async function mustStart(
  config: Parameters<typeof startService>[0],
  name: string,
  options: Parameters<typeof startService>[2] = {},
) {
  const outcome = await startService(config, name, { inspector, ...options });
  if (outcome.kind !== 'started') expect.fail(`${name} should start, got ${outcome.kind}`);
  return outcome;
}

/** Runs a fixture script with node and resolves with its stdout. */
async function runNode(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return (await runProcess([process.execPath, ...args], { env, timeout: 60_000 })).stdout;
}

describe('process: spawning, the stop ladder and the sweep', () => {
  it('runs the service in its own process group with the marker, ports and config env', async () => {
    const dir = project({});
    const envFile = join(dir, 'env.json');
    const config = await makeStack({
      web: {
        command: [
          process.execPath,
          '-e',
          `require('fs').writeFileSync(${JSON.stringify(envFile)}, JSON.stringify(process.env)); setInterval(() => {}, 1000)`,
        ],
        env: { GREETING: 'hi' },
      },
    });
    const outcome = await mustStart(config, 'web', { ports: { web: 4321, 'api-v2': 5555 } });
    track(outcome.record.pid);
    await waitFor(
      () => pidsIn(envFile).length > 0 || readdirSync(dir).includes('env.json'),
      3000,
      'the env dump',
    );
    await waitFor(() => readFileSync(envFile, 'utf8').length > 0, 3000, 'the env dump content');
    const env = JSON.parse(readFileSync(envFile, 'utf8')) as Record<string, string>;
    expect(env).to.include({ GREETING: 'hi', PORT: '4321', WEB_PORT: '4321', API_V2_PORT: '5555' });
    expect(env.LAUNCHGUARD_INSTANCE).to.equal(outcome.record.instance);
    const looked = inspector.lookup(outcome.record.pid);
    if (looked.kind !== 'alive') expect.fail('alive');
    expect(looked.info.pgid).to.equal(outcome.record.pid);
    expect(looked.info.sid).to.equal(outcome.record.pid);
  });

  it('no lock or record descriptor leaks into the service', async () => {
    const config = await makeStack({ svc: { command: nodeFixture('sleep.mjs') } });
    const outcome = await mustStart(config, 'svc');
    track(outcome.record.pid);
    const fds = readdirSync(`/proc/${outcome.record.pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${outcome.record.pid}/fd/${fd}`);
      } catch {
        return '';
      }
    });
    const inState = fds.filter((t) => t.startsWith(config.pidDir));
    expect(inState).to.deep.equal([
      servicePaths(config.pidDir, 'svc').log,
      servicePaths(config.pidDir, 'svc').log,
    ]);
  });

  it('names the real culprit of a failed spawn', async () => {
    const dir = project({ 'script.sh': '#!/bin/sh\necho hi\n' });
    const cases: [unknown, RegExp][] = [
      [{ command: 'no-such-program-xyz' }, /svc: command 'no-such-program-xyz' not found in PATH/],
      [
        { command: 'node x.js', cwd: 'missing-dir' },
        /svc: working directory .*missing-dir does not exist/,
      ],
      [{ command: `${dir}/script.sh` }, /svc: command .*script\.sh is not executable \(EACCES\)/],
      [{ command: './nope.sh' }, /svc: command \.\/nope\.sh not found \(looked at .*nope\.sh\)/],
    ];
    for (const [service, message] of cases) {
      const config = await makeStack({ svc: service });
      const error = await failure(startService(config, 'svc', { inspector }));
      expect(error.code).to.equal('E_SPAWN');
      expect(error.message).to.match(message);
      expect(
        readdirSync(config.pidDir).filter((n) => n.endsWith('.json') || n.endsWith('.pid')),
      ).to.deep.equal([]);
    }
  });

  it('stops a whole tree (node -> node -> node) and waits until the group is empty', async () => {
    const dir = project({});
    const pidFile = join(dir, 'pids');
    const config = await makeStack({
      tree: { command: nodeFixture('tree.mjs'), env: { PID_FILE: pidFile } },
    });
    const outcome = await mustStart(config, 'tree');
    await waitFor(() => pidsIn(pidFile).length === 3, 5000, 'three processes');
    const pids = pidsIn(pidFile);
    pids.forEach(track);
    const report = await stopInstance(outcome.record, { inspector, timeout: 5000 });
    expect(report).to.include({ outcome: 'stopped', forced: false });
    expect(report.survivors).to.deep.equal([]);
    for (const pid of pids) expect(isAliveNow(pid), `pid ${pid}`).to.equal(false);
  });

  it('SIGKILLs a service that ignores SIGTERM at the stop timeout', async () => {
    const config = await makeStack({ stubborn: { command: nodeFixture('ignore-term.mjs') } });
    const outcome = await mustStart(config, 'stubborn');
    track(outcome.record.pid);
    await waitFor(
      () => readFileSync(outcome.record.logFile, 'utf8').includes('up'),
      3000,
      'the handler',
    );
    const report = await stopInstance(outcome.record, { inspector, timeout: 300 });
    expect(report).to.include({ outcome: 'stopped', forced: true });
    expect(report.durationMs).to.be.within(290, 1500 + SLACK_MS);
    expect(isAliveNow(outcome.record.pid)).to.equal(false);
    expect(readFileSync(outcome.record.logFile, 'utf8')).to.include('ignoring SIGTERM');
  });

  it("finds a setsid'd grandchild by its marker and stops it too", async () => {
    const dir = project({});
    const pidFile = join(dir, 'pids');
    const config = await makeStack({
      escaper: { command: nodeFixture('setsid.mjs'), env: { PID_FILE: pidFile } },
    });
    const outcome = await mustStart(config, 'escaper');
    await waitFor(() => pidsIn(pidFile).length === 2, 5000, 'the grandchild');
    const [parent, escaped] = pidsIn(pidFile) as [number, number];
    track(parent);
    track(escaped);
    const looked = inspector.lookup(escaped);
    if (looked.kind !== 'alive') expect.fail('alive');
    expect(looked.info.pgid).not.to.equal(outcome.record.pgid);
    const marked = findMarked({ stack: stackId(config.name, config.file) }, inspector).map(
      (m) => m.info.pid,
    );
    expect(marked).to.have.members([parent, escaped]);
    const report = await stopInstance(outcome.record, { inspector, timeout: 3000 });
    expect(report.outcome).to.equal('stopped');
    expect(isAliveNow(escaped)).to.equal(false);
  });

  it("never signals a group that is not provably the service's", async () => {
    const config = await makeStack({ svc: { command: nodeFixture('sleep.mjs') } });
    const outcome = await mustStart(config, 'svc');
    track(outcome.record.pid);
    const signalled: number[] = [];
    const kill = (pid: number) => {
      signalled.push(pid);
    };
    // The record claims the runner's own group and a wrong marker: nothing may be signalled.
    const self = inspector.lookup(process.pid);
    if (self.kind !== 'alive') expect.fail('self');
    const forged = {
      ...outcome.record,
      pid: process.pid,
      pgid: self.info.pgid,
      instance: 'x-00000000/svc/00',
    };
    const report = await stopInstance(forged, { inspector, kill, timeout: 100 });
    expect(signalled).to.deep.equal([]);
    expect(report.outcome).to.equal('gone');
  });

  it('a leftover of a killed launcher (marker, no record) is stopped before the next start', async () => {
    const config = await makeStack({ svc: { command: nodeFixture('sleep.mjs') } });
    const orphan = spawnPlain(nodeFixture('sleep.mjs'), {
      LAUNCHGUARD_INSTANCE: `${stackId(config.name, config.file)}/svc/0badc0ffee00`,
    });
    const orphanPid = orphan.pid as number;
    await waitFor(() => isAlive(orphanPid), 3000, 'the orphan');
    const outcome = await mustStart(config, 'svc');
    track(outcome.record.pid);
    expect(outcome.replaced.map((r) => [r.pid, r.outcome])).to.deep.equal([[orphanPid, 'stopped']]);
    expect(isAlive(orphanPid)).to.equal(false);
    // The ps backend answers from a table read at most 20 ms ago (see os/portable.ts):
    // let the one the start read expire, so that it lists the new instance.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const marked = findMarked({ stack: stackId(config.name, config.file) }, inspector).map(
      (m) => m.info.pid,
    );
    expect(marked).to.deep.equal([outcome.record.pid]);
  });

  it('50 concurrent starts through the library spawn exactly one instance', async function () {
    this.timeout(60_000);
    const config = await makeStack({ svc: { command: nodeFixture('sleep.mjs') } });
    const runs = await Promise.all(
      Array.from({ length: 50 }, () =>
        runNode([fixture('start-one.mjs'), ROOT, config.file, 'svc']),
      ),
    );
    const outcomes = runs.map((out) => JSON.parse(out.trim()) as { kind: string; pid: number });
    const started = outcomes.filter((o) => o.kind === 'started');
    expect(
      outcomes.filter((o) => o.kind === 'error'),
      JSON.stringify(outcomes),
    ).to.deep.equal([]);
    expect(started).to.have.length(1);
    const pid = started[0]?.pid as number;
    track(pid);
    expect(outcomes.every((o) => o.pid === pid)).to.equal(true);
    const marked = findMarked({ stack: stackId(config.name, config.file) }, inspector);
    expect(marked.map((m) => m.info.pid)).to.deep.equal([pid]);
  });

  it('a stale lock of a killed launcher is taken over, one contender at a time', async function () {
    this.timeout(30_000);
    const dir = project({});
    const lockPath = join(dir, 'svc.lock');
    const log = join(dir, 'log');
    // A real dead owner: a process that ran and exited.
    const dead = spawn(process.execPath, ['-e', '0']);
    const deadPid = dead.pid as number;
    const deadStart = (() => {
      const l = inspector.lookup(deadPid);
      return l.kind === 'alive' ? l.info.startTime : '1';
    })();
    await new Promise((r) => dead.on('exit', r));
    writeFileSync(
      lockPath,
      JSON.stringify({
        pid: deadPid,
        startTime: deadStart,
        bootId: inspector.bootId(),
        pidNamespace: inspector.pidNamespace(),
        nonce: 'deadbeef',
        service: 'svc',
        acquiredAt: '',
      }),
    );
    await Promise.all(
      Array.from({ length: 8 }, () =>
        runNode([fixture('hold-lock.mjs'), ROOT, lockPath, log], { HOLD_MS: '40' }),
      ),
    );
    const events = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    expect(events).to.have.length(16);
    // Mutual exclusion: enter and leave alternate, each leave by the one who entered.
    for (let i = 0; i < events.length; i += 2) {
      expect(events[i]?.[0]).to.equal('enter');
      expect(events[i + 1]?.[0]).to.equal('leave');
      expect(events[i + 1]?.[1]).to.equal(events[i]?.[1]);
    }
    expect(readdirSync(dir).sort()).to.deep.equal(['log']);
  });

  it('down of a level is not held back by one service whose lock another launcher holds', async () => {
    const config = await makeStack({
      a: { command: nodeFixture('sleep.mjs') },
      b: { command: nodeFixture('sleep.mjs') },
    });
    const a = (await mustStart(config, 'a')).record.pid;
    const b = (await mustStart(config, 'b')).record.pid;
    track(a);
    track(b);
    // Another launcher is starting or stopping b: its lock is held (here, by this process).
    const held = await acquireLock(servicePaths(config.pidDir, 'b').lock, 'b', { inspector });
    const t0 = performance.now();
    const down = downStack(config, { inspector });
    try {
      await waitFor(() => !isAlive(a), 1000, 'a stopped while b’s lock is held');
      expect(performance.now() - t0).to.be.below(1000);
      expect(isAlive(b), 'b waits for its lock').to.equal(true);
    } finally {
      held.release();
    }
    const result = await down;
    expect(result.clean).to.equal(true);
    expect(isAlive(b)).to.equal(false);
  });

  it('a live lock holder makes a contender fail with a clear busy message after the timeout', async () => {
    const dir = project({});
    const lockPath = join(dir, 'svc.lock');
    const held = await acquireLock(lockPath, 'svc', { inspector });
    const busy = await failure(acquireLock(lockPath, 'svc', { inspector, timeout: 100 }));
    expect(busy.code).to.equal('E_BUSY');
    expect(busy.message).to.equal(
      `busy: another launchguard (pid ${process.pid}) is starting or stopping svc`,
    );
    expect(held.isHeld()).to.equal(true);
    held.release();
    expect(held.isHeld()).to.equal(false);
    const again = await acquireLock(lockPath, 'svc', { inspector, timeout: 100 });
    again.release();
  });
});
