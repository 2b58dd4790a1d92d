import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { FAULT_POINTS } from '../../lib/fault.js';
import { diedAtFault, runCli } from '../helpers/cli.js';
import { startCli } from '../helpers/e2e.js';
import { exactlyOnce, leftovers, ratio, twoServices } from './kit.js';
import { count, score } from './scorecard.js';

/** After a crash: the next `up -d` gives exactly one instance, the next `down` leaves nothing. */
async function recovers(
  cwd: string,
  config: Awaited<ReturnType<typeof twoServices>>,
): Promise<string[]> {
  const up = await runCli(['up', '-d'], { cwd, timeout: 30_000 });
  const problems = up.code === 0 ? exactlyOnce(config) : [`up -d exited ${up.code}: ${up.stderr}`];
  const down = await runCli(['down'], { cwd, timeout: 30_000 });
  if (down.code !== 0) problems.push(`down exited ${down.code}: ${down.stderr}`);
  return [...problems, ...leftovers(config)];
}

describe('reliability: the launcher killed at any point', function () {
  this.timeout(600_000);

  it('every fault point: the next up gives one instance per service, the next down nothing', async () => {
    const per = count(1, 6);
    let ok = 0;
    const failures: string[] = [];
    for (const point of FAULT_POINTS) {
      for (let i = 0; i < per; i++) {
        const config = await twoServices();
        const cwd = config.root;
        if (point === 'after-stop-signal') {
          expect((await runCli(['up', '-d'], { cwd })).code).to.equal(0);
          const down = await runCli(['down'], { cwd, env: { LAUNCHGUARD_FAULT: point } });
          expect(diedAtFault(down), `${point}: down should die`).to.equal(true);
        } else {
          const up = await runCli(['up', '-d'], { cwd, env: { LAUNCHGUARD_FAULT: point } });
          expect(diedAtFault(up), `${point}: up should die`).to.equal(true);
        }
        const problems = await recovers(cwd, config);
        if (problems.length === 0) ok++;
        else failures.push(`${point}: ${problems.join('; ')}`);
      }
    }
    const runs = per * FAULT_POINTS.length;
    score({
      scenario: `SIGKILL at each of the ${FAULT_POINTS.length} fault points, then up -d and down`,
      runs,
      figure: `${ratio(ok, runs)} recovered, no manual cleanup`,
      target: 'all',
      pass: ok === runs,
    });
    expect(failures).to.deep.equal([]);
  });

  it('SIGKILL at a random moment of up: the next up gives one instance, the next down nothing', async () => {
    const runs = count(3, 30);
    let ok = 0;
    const failures: string[] = [];
    for (let i = 0; i < runs; i++) {
      const config = await twoServices(100);
      const cwd = config.root;
      const up = startCli(['up', '-d'], cwd);
      await sleep(Math.floor(Math.random() * 450));
      up.child.kill('SIGKILL'); // our own child, by PID
      await up.exited;
      const problems = await recovers(cwd, config);
      if (problems.length === 0) ok++;
      else failures.push(problems.join('; '));
    }
    score({
      scenario: 'SIGKILL of `up -d` at a random moment (0-450 ms), then up -d and down',
      runs,
      figure: `${ratio(ok, runs)} recovered`,
      target: 'all',
      pass: ok === runs,
    });
    expect(failures).to.deep.equal([]);
  });
});
