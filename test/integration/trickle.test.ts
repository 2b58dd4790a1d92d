import { expect } from 'chai';
import { hasStackTrace, runCli } from '../helpers/cli.js';
import { markedPids, startCli } from '../helpers/e2e.js';
import { freePort } from '../helpers/ports.js';
import { SLACK_MS, waitFor } from '../helpers/procs.js';
import { makeStack, nodeFixture } from '../helpers/stack.js';

/** A stack whose one service answers its HTTP check one byte every 50 ms, for ever. */
async function tricklingStack(readyTimeout: number) {
  const port = await freePort();
  return makeStack({
    api: {
      command: nodeFixture('trickle.mjs'),
      port,
      ready: { http: '/health' },
      readyTimeout,
      stopTimeout: 1000,
    },
  });
}

describe('readiness: a server that trickles its answer never outlasts a deadline', () => {
  it('up -d fails at readyTimeout, rolls back, and says which check hung', async () => {
    const config = await tricklingStack(1500);
    const started = performance.now();
    const up = await runCli(['up', '-d'], { cwd: config.root, timeout: 30_000 });
    const took = performance.now() - started;
    expect(up.code, up.stderr).to.equal(1);
    expect(took, 'ended near its readyTimeout').to.be.below(1500 + 2500 + SLACK_MS);
    expect(up.stderr).to.match(/api: not ready after 1\.5 s/);
    expect(hasStackTrace(up.stderr)).to.equal(false);
    expect(markedPids(config), 'rolled back').to.deep.equal([]);
  });

  it('wait --timeout ends at its timeout, and Ctrl-C / SIGTERM end up and run at once', async function () {
    this.timeout(40_000);
    const config = await tricklingStack(60_000);
    for (const [args, signal] of [
      [['up'], 'SIGINT'],
      [['run', '--', process.execPath, '-e', '0'], 'SIGTERM'],
    ] as const) {
      const fg = startCli(args, config.root);
      await waitFor(() => markedPids(config).length > 0, 10_000, 'the service to start');
      const started = performance.now();
      const wait = await runCli(['wait', 'api', '--timeout', '1500ms'], {
        cwd: config.root,
        timeout: 20_000,
      });
      expect(wait.code, wait.stderr).to.equal(1);
      expect(performance.now() - started, 'wait ended near its timeout').to.be.below(
        1500 + 2000 + SLACK_MS,
      );
      const stopping = performance.now();
      fg.child.kill(signal);
      const code = await fg.exited;
      expect(code, `${args[0]}: ${fg.output()}`).to.not.equal(0);
      // 1 s to notice, plus the service's stop (1 s timeout, it exits on SIGTERM at once).
      expect(performance.now() - stopping, `${args[0]} ended after ${signal}`).to.be.below(
        2000 + SLACK_MS,
      );
      expect(hasStackTrace(fg.output())).to.equal(false);
      await waitFor(() => markedPids(config).length === 0, 5000, 'nothing left');
    }
  });
});
