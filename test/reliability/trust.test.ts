import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { configRace, fillDisk, smallDisk } from '../helpers/attacks.js';
import { runCli } from '../helpers/cli.js';
import { markedPids, recordOf } from '../helpers/e2e.js';
import { freePort } from '../helpers/ports.js';
import { isAlive } from '../helpers/procs.js';
import { makeStack, nodeFixture } from '../helpers/stack.js';
import { otherUser, requireRoot } from '../helpers/users.js';
import { count, score } from './scorecard.js';

const sleeper = { command: nodeFixture('sleep.mjs'), stopTimeout: 1000 };

describe('reliability: trust, deadlines, shared state, full disks', function () {
  this.timeout(900_000);

  it('as root: the config swapped between check and import never runs', async function () {
    requireRoot(this);
    const runs = count(20, 200);
    const race = await configRace(otherUser(), runs);
    score({
      scenario:
        "config race: another user swaps their config for root's (rename in a group-writable folder) while root runs validate",
      runs,
      figure: `${race.foreign} foreign evaluations in ${race.swaps} swaps (${race.refused} runs met a swap and refused)`,
      target: '0',
      pass: race.foreign === 0 && race.traces === 0,
    });
    expect(race.foreign).to.equal(0);
    expect(race.traces).to.equal(0);
  });

  it('a readiness check against a server that trickles its answer ends at the deadline', async () => {
    const runs = count(2, 10);
    const timeout = 800;
    const problems: string[] = [];
    for (let i = 0; i < runs; i++) {
      const config = await makeStack({
        api: {
          command: nodeFixture('trickle.mjs'),
          port: await freePort(),
          ready: { http: '/' },
          readyTimeout: timeout,
          stopTimeout: 1000,
        },
      });
      const started = performance.now();
      const up = await runCli(['up', '-d'], { cwd: config.root, timeout: 60_000 });
      const took = performance.now() - started;
      if (up.code !== 1) problems.push(`run ${i}: exit ${up.code}`);
      if (took > timeout + 2000) problems.push(`run ${i}: took ${Math.round(took)} ms`);
      if (markedPids(config).length > 0) problems.push(`run ${i}: left a process`);
    }
    score({
      scenario: `trickling readiness: an HTTP check answered one byte every 50 ms, up -d with readyTimeout ${timeout} ms`,
      runs,
      figure: `${problems.length} problems (ended past the deadline + 2 s, wrong exit, leftovers)`,
      target: '0',
      pass: problems.length === 0,
    });
    expect(problems).to.deep.equal([]);
  });

  it("two stacks sharing a pidDir never touch each other's service", async () => {
    const runs = count(2, 10);
    const problems: string[] = [];
    for (let i = 0; i < runs; i++) {
      const a = await makeStack({ web: sleeper }, { pidDir: '.pids' });
      const other = join(a.root, 'b.config.mjs');
      writeFileSync(
        other,
        `export default ${JSON.stringify({ pidDir: '.pids', services: { web: sleeper } })};\n`,
      );
      await runCli(['up', '-d'], { cwd: a.root });
      const pid = recordOf(a, 'web')?.pid as number;
      for (const args of [['up', '-d'], ['status'], ['down'], ['down', '--no-deps', 'web']])
        await runCli(['-c', other, ...args], { cwd: a.root });
      if (!isAlive(pid)) problems.push(`run ${i}: A's web was stopped`);
      if (recordOf(a, 'web')?.pid !== pid) problems.push(`run ${i}: A's record changed`);
      await runCli(['down'], { cwd: a.root });
      if (markedPids(a).length > 0) problems.push(`run ${i}: A's down left a process`);
    }
    score({
      scenario:
        "shared pidDir: stack B runs up -d, status, down and down --no-deps beside stack A's service",
      runs,
      figure: `${problems.length} problems (A's service stopped, replaced or left behind)`,
      target: '0',
      pass: problems.length === 0,
    });
    expect(problems).to.deep.equal([]);
  });

  it('as root: down on a full state filesystem stops every service', async function () {
    requireRoot(this);
    const runs = count(1, 5);
    const problems: string[] = [];
    for (let i = 0; i < runs; i++) {
      const config = await makeStack(
        { api: sleeper, web: { ...sleeper, dependsOn: ['api'] } },
        { pidDir: 'state/.pids' },
      );
      const unmount = smallDisk(join(config.root, 'state'));
      try {
        await runCli(['up', '-d'], { cwd: config.root });
        fillDisk(join(config.root, 'state', 'filler'));
        const down = await runCli(['down'], { cwd: config.root });
        if (down.code !== 0) problems.push(`run ${i}: down exited ${down.code}`);
        if (markedPids(config).length > 0) problems.push(`run ${i}: a service kept running`);
        if (/internal error/.test(down.stderr)) problems.push(`run ${i}: internal error`);
      } finally {
        await runCli(['down'], { cwd: config.root });
        unmount();
      }
    }
    score({
      scenario: 'full disk: down of a two-service stack whose state folder is on a full filesystem',
      runs,
      figure: `${problems.length} problems (a service left running, a failed down, an internal error)`,
      target: '0',
      pass: problems.length === 0,
    });
    expect(problems).to.deep.equal([]);
  });
});
