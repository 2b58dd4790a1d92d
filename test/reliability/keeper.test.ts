import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { runCli } from '../helpers/cli.js';
import { recordOf } from '../helpers/e2e.js';
import { isAlive, track, waitFor } from '../helpers/procs.js';
import { exactlyOnce, leftovers, twoServices } from './kit.js';
import { count, score } from './scorecard.js';

function keeperPid(config: ResolvedConfig): number | null {
  try {
    const pid = (
      JSON.parse(readFileSync(join(config.pidDir, '.keeper.json'), 'utf8')) as {
        pid: number;
      }
    ).pid;
    return isAlive(pid) ? track(pid) : null;
  } catch {
    return null;
  }
}

/** True once every service runs a ready, live instance. */
function allReady(config: ResolvedConfig): boolean {
  return ['api', 'web'].every((s) => {
    const r = recordOf(config, s);
    return typeof r?.pid === 'number' && isAlive(r.pid) && typeof r.readyAt === 'string';
  });
}

/** Kills the keeper (then `up -d` adopts) or a service, waits for recovery; the problems seen. */
async function killAndRecover(config: ResolvedConfig, victim: string): Promise<string[]> {
  const problems: string[] = [];
  const pid = victim === 'keeper' ? keeperPid(config) : (recordOf(config, victim)?.pid as number);
  if (pid !== null) {
    process.kill(pid, 'SIGKILL'); // ours: this test's keeper or service
    await waitFor(() => !isAlive(pid), 5000, 'the victim to die');
  }
  if (victim === 'keeper') {
    const again = await runCli(['up', '-d'], { cwd: config.root });
    if (again.code !== 0) problems.push(`up -d after the keeper died: ${again.stderr}`);
  }
  try {
    await waitFor(() => allReady(config), 10_000, 'every service ready again');
  } catch {
    problems.push('not ready again');
  }
  problems.push(...exactlyOnce(config));
  if (keeperPid(config) === null) problems.push('no keeper');
  return problems;
}

describe('reliability: the keeper', function () {
  this.timeout(900_000);

  it('random kill -9 of services and of the keeper: every service ready again, once', async () => {
    const cycles = count(4, 40);
    // Each instance lives past minUptime before it is killed: no kill counts toward a crash loop.
    const config = await twoServices(50, { restart: 'always', minUptime: 100 });
    const problems: string[] = [];
    const up = await runCli(['up', '-d'], { cwd: config.root });
    expect(up.code, up.stderr).to.equal(0);
    for (let i = 0; i < cycles; i++) {
      const victim = Math.random() < 0.25 ? 'keeper' : Math.random() < 0.5 ? 'api' : 'web';
      problems.push(
        ...(await killAndRecover(config, victim)).map((p) => `cycle ${i} (${victim}): ${p}`),
      );
    }
    const down = await runCli(['down'], { cwd: config.root });
    if (down.code !== 0) problems.push(`down: ${down.stderr}`);
    problems.push(...leftovers(config));
    if (keeperPid(config) !== null) problems.push('the keeper outlived down');
    score({
      scenario:
        'the keeper: random kill -9 of a service or of the keeper (then up -d adopts), 2-service stack',
      runs: cycles,
      figure: `${problems.length} problems: duplicates, orphans, services not ready again`,
      target: '0',
      pass: problems.length === 0,
    });
    expect(problems).to.deep.equal([]);
  });
});
