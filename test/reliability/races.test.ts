import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { type CliResult, runCli } from '../helpers/cli.js';
import { instances, markedPids, recordOf } from '../helpers/e2e.js';
import { exactlyOnce, leftovers, ratio, twoServices } from './kit.js';
import { count, score } from './scorecard.js';

function logsOf(config: Awaited<ReturnType<typeof twoServices>>): string {
  return ['api', 'web']
    .map((s) => {
      try {
        return readFileSync(join(config.pidDir, `${s}.log`), 'utf8');
      } catch {
        return '';
      }
    })
    .join('\n');
}

/** Calls that were busy (exit 1, documented), and every other failure in a line. */
function tallyCalls(results: readonly CliResult[]): { busy: number; failures: string[] } {
  let busy = 0;
  const failures: string[] = [];
  for (const res of results) {
    if (res.code === 1 && /busy: another launchguard/.test(res.stderr)) busy++;
    else if (res.code !== 0) failures.push(`exit ${res.code}: ${res.stderr.split('\n')[0]}`);
  }
  return { busy, failures };
}

describe('reliability: races', function () {
  this.timeout(900_000);

  it('parallel up -d: one instance per service, one listener per port, no EADDRINUSE', async () => {
    const width = count(10, 50);
    const rounds = count(1, 10);
    let good = 0;
    let calls = 0;
    let busy = 0;
    const failures: string[] = [];
    const config = await twoServices(100);
    for (let r = 0; r < rounds; r++) {
      const results = await Promise.all(
        Array.from({ length: width }, () =>
          runCli(['up', '-d'], { cwd: config.root, timeout: 120_000 }),
        ),
      );
      calls += results.length;
      const tally = tallyCalls(results);
      busy += tally.busy;
      failures.push(...tally.failures);
      const problems = exactlyOnce(config);
      if (/EADDRINUSE/.test(logsOf(config))) problems.push('EADDRINUSE in a service log');
      if (problems.length === 0) good++;
      else failures.push(`round ${r}: ${problems.join('; ')}`);
      expect((await runCli(['down'], { cwd: config.root })).code).to.equal(0);
    }
    score({
      scenario: `${width} parallel \`up -d\` of a 2-service stack, ${rounds} rounds`,
      runs: rounds,
      figure: `${ratio(good, rounds)} rounds with exactly one instance and one listener per service; ${calls - busy - failures.filter((f) => f.startsWith('exit')).length}/${calls} calls exit 0, ${busy} busy (exit 1, documented)`,
      target: 'all rounds; every call 0 or busy',
      pass: good === rounds && failures.length === 0,
    });
    expect(failures).to.deep.equal([]);
  });

  it('up -d and down interleaved at random delays: the final state is always consistent', async () => {
    const runs = count(4, 100);
    let consistent = 0;
    const failures: string[] = [];
    const config = await twoServices(80);
    for (let i = 0; i < runs; i++) {
      const up = runCli(['up', '-d'], { cwd: config.root, timeout: 60_000 });
      await sleep(Math.floor(Math.random() * 500));
      const down = runCli(['down'], { cwd: config.root, timeout: 60_000 });
      await Promise.all([up, down]);
      const found = instances(config);
      const nothing =
        markedPids(config).length === 0 && !recordOf(config, 'api') && !recordOf(config, 'web');
      const whole = ['api', 'web'].every(
        (s) =>
          found.get(s)?.size === 1 &&
          recordOf(config, s)?.instance === [...(found.get(s) ?? [])][0],
      );
      // A half state (api up, web never started because down stopped api) counts when each
      // running service has its record and nothing runs without one.
      const partial = ['api', 'web'].every((s) => {
        const n = found.get(s)?.size ?? 0;
        const rec = recordOf(config, s);
        return (
          (n === 0 && rec === null) || (n === 1 && rec?.instance === [...(found.get(s) ?? [])][0])
        );
      });
      if (nothing || whole || partial) consistent++;
      else failures.push(`run ${i}: ${JSON.stringify([...found].map(([k, v]) => [k, v.size]))}`);
      await runCli(['down'], { cwd: config.root });
      const left = leftovers(config);
      if (left.length > 0) failures.push(`run ${i} cleanup: ${left.join('; ')}`);
    }
    score({
      scenario: '`up -d` and `down` interleaved at random delays (0-500 ms)',
      runs,
      figure: `${ratio(consistent, runs)} consistent (nothing and no record, or one instance with its record)`,
      target: 'all',
      pass: consistent === runs,
    });
    expect(failures).to.deep.equal([]);
  });
});
