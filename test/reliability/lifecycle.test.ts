import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { hasStackTrace } from '../helpers/cli.js';
import { markedPids, recordOf, startCli } from '../helpers/e2e.js';
import { BIN } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { track, waitFor } from '../helpers/procs.js';
import { listenService, makeStack, nodeFixture } from '../helpers/stack.js';
import { count, score } from './scorecard.js';

/** `run`'s command: waits `ms`, then exits 0 only if the api still answers. */
function probeAfter(ms: number): string[] {
  return [
    'node',
    '-e',
    `setTimeout(()=>{const s=require('net').connect(+process.env.API_PORT,'127.0.0.1');s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(7))},${ms})`,
  ];
}

describe('reliability: users come and go, readers go away', function () {
  this.timeout(600_000);

  it('overlapping runs: every command sees the stack to its end; the last one out stops it', async () => {
    const rounds = count(2, 20);
    const problems: string[] = [];
    let commands = 0;
    for (let round = 0; round < rounds; round++) {
      const config = await makeStack({ api: listenService(await freePort()) });
      const runs = [];
      for (let i = 0; i < 4; i++) {
        runs.push(
          startCli(['run', '--', ...probeAfter(Math.floor(Math.random() * 800))], config.root),
        );
        await sleep(Math.floor(Math.random() * 300));
      }
      for (const [i, run] of runs.entries()) {
        commands++;
        const code = await run.exited;
        if (code !== 0)
          problems.push(`round ${round} run ${i}: exit ${code}: ${run.output().slice(-300)}`);
      }
      await waitFor(() => markedPids(config).length === 0, 5000, 'the last one out').catch(() =>
        problems.push(`round ${round}: processes left: ${markedPids(config).join(', ')}`),
      );
      if (recordOf(config, 'api') !== null) problems.push(`round ${round}: record left`);
    }
    score({
      scenario: '4 overlapping `run`s per round, random lengths and start times',
      runs: commands,
      figure: `${commands - problems.length}/${commands} commands saw the service to their end; ${problems.length} problems (early stops, leftovers)`,
      target: 'all; 0',
      pass: problems.length === 0,
    });
    expect(problems).to.deep.equal([]);
  });

  it('the reader of a foreground up goes away (head, tee + Ctrl-C): nothing orphaned, no stack trace', async () => {
    const rounds = count(3, 30);
    const problems: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const config = await makeStack({ talk: { command: nodeFixture('chatty.mjs') } });
      const viaHead = round % 2 === 0;
      const script = viaHead
        ? `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} up | head -${1 + Math.floor(Math.random() * 20)}`
        : `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} up | tee /dev/null`;
      const child = spawn('sh', ['-c', script], {
        cwd: config.root,
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
      });
      track(child.pid as number);
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d;
      });
      const done = new Promise((resolve) => child.on('close', resolve));
      if (!viaHead) {
        await sleep(200 + Math.floor(Math.random() * 400));
        process.kill(-(child.pid as number), 'SIGINT');
      }
      await done;
      const label = `round ${round} (${viaHead ? 'head' : 'tee + SIGINT'})`;
      await waitFor(() => markedPids(config).length === 0, 8000, 'the stop').catch(() =>
        problems.push(`${label}: processes left: ${markedPids(config).join(', ')}`),
      );
      if (hasStackTrace(err)) problems.push(`${label}: stack trace: ${err.slice(0, 300)}`);
    }
    score({
      scenario:
        // A pipe in a Markdown table cell is escaped, even in code.
        'foreground `up` whose reader goes away: `\\| head -N`, or `\\| tee` and Ctrl-C at a random moment',
      runs: rounds,
      figure: `${problems.length} problems: orphaned services or stack traces`,
      target: '0',
      pass: problems.length === 0,
    });
    expect(problems).to.deep.equal([]);
  });
});
