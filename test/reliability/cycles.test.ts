import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { expect } from 'chai';
import { launch } from '../../lib/api.js';
import type { ServiceUp } from '../../lib/orchestrate/up.js';
import { isTempFile } from '../../lib/state/files.js';
import { markedPids } from '../helpers/e2e.js';
import { freePort } from '../helpers/ports.js';
import { makeStack, nodeFixture } from '../helpers/stack.js';
import { count, score } from './scorecard.js';

function fdCount(pid: number | 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Files under `dir` a process holds open (a service should hold its log file only). */
function openFilesIn(pid: number, dir: string): string[] {
  const files = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith(`${dir}/`)) files.add(target);
    } catch {
      // closed meanwhile
    }
  }
  return [...files];
}

/** Children of this process that are zombies (exited, not reaped). */
function zombies(): number {
  let n = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' && Number(fields[1]) === process.pid) n++;
    } catch {
      // gone
    }
  }
  return n;
}

/** State files (other than its own log) that a started service holds open: leaked descriptors. */
function strayFiles(services: readonly ServiceUp[], pidDir: string): string[] {
  return services.flatMap(({ record }) =>
    record === undefined ? [] : openFilesIn(record.pid, pidDir).filter((f) => f !== record.logFile),
  );
}

describe('reliability: many start/stop cycles leak nothing', function () {
  this.timeout(1_800_000);

  it('launch()/stop() cycles: no leaked descriptors, no temp files, no zombies', async () => {
    const cycles = count(8, 1000);
    const config = await makeStack({
      api: { command: nodeFixture('listen.mjs'), port: await freePort() },
      web: { command: nodeFixture('listen.mjs'), port: 'auto', dependsOn: ['api'] },
    });
    // Warm up once: lazily loaded modules and first-use handles are not leaks.
    await (await launch({ cwd: config.root })).stop();
    const before = fdCount('self');
    const leaked = new Set<string>();
    for (let i = 0; i < cycles; i++) {
      const stack = await launch({ cwd: config.root });
      for (const f of strayFiles(stack.services, config.pidDir)) leaked.add(f);
      const down = await stack.stop();
      expect(down.clean).to.equal(true);
    }
    const after = fdCount('self');
    const temps = readdirSync(config.pidDir).filter(isTempFile);
    // Node reaps exited children on its event loop: give it a moment, then count.
    const until = Date.now() + 2000;
    while (zombies() > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const z = zombies();
    const left = markedPids(config);
    score({
      scenario: 'start/stop cycles of a 2-service stack through `launch()` in one process',
      runs: cycles,
      figure: `launcher fds ${before} → ${after}; ${leaked.size} state files open in services besides their logs; ${temps.length} temp files; ${z} zombies; ${left.length} leftovers`,
      target: 'no growth; 0; 0; 0; 0',
      pass:
        after <= before && leaked.size === 0 && temps.length === 0 && z === 0 && left.length === 0,
    });
    expect(after).to.be.at.most(before);
    expect([...leaked]).to.deep.equal([]);
    expect(temps).to.deep.equal([]);
    expect(z).to.equal(0);
    expect(left).to.deep.equal([]);
  });
});
