import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { systemInspector } from '../../lib/os/inspector.js';
import { BIN, fixture } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { isAlive, track, waitFor } from '../helpers/procs.js';
import { earlierStartTime, plantRecord } from '../helpers/records.js';
import { makeStack, nodeFixture, spawnPlain } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { STRICT } from '../helpers/users.js';
import { count, score } from './scorecard.js';

const inspector = systemInspector();
const HAS_STRACE = spawnSync('strace', ['-V']).status === 0;
if (!HAS_STRACE && STRICT)
  throw new Error('strace is missing: .ci/run installs it (apt-get install strace)');

/** Runs the CLI under `strace -f -e trace=kill` (when available); returns the kill targets. */
function traced(args: readonly string[], cwd: string, shellPrefix?: string): Promise<number[]> {
  const out = join(tempDir(), 'strace.txt');
  const cmd = shellPrefix
    ? [
        'sh',
        '-c',
        `${shellPrefix}; exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} ${args.join(' ')}`,
      ]
    : [process.execPath, BIN, ...args];
  // (with a shell prefix, strace follows the exec'd launcher: same process)
  // No -f: the launcher's kill() calls come from its main thread, and following forks would
  // trace (and wait for) the detached services too.
  const argv = HAS_STRACE ? ['strace', '-qq', '-e', 'trace=kill', '-o', out, ...cmd] : cmd;
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: 'ignore',
      detached: true,
    });
    track(child.pid as number);
    child.on('close', () => {
      if (!HAS_STRACE || !existsSync(out)) return resolve([]);
      const targets = [...readFileSync(out, 'utf8').matchAll(/kill\((-?\d+), (SIG\w+|0)/g)]
        .filter((m) => m[2] !== '0')
        .map((m) => Math.abs(Number(m[1])));
      resolve(targets);
    });
  });
}

describe('reliability: decoys never receive a signal', function () {
  this.timeout(300_000);
  const allHits: string[] = [];
  let hits: string[] = [];
  let checks = 0;
  beforeEach(() => {
    hits = [];
  });
  afterEach(() => {
    allHits.push(...hits);
  });

  async function exercise(config: ResolvedConfig, decoy: number, label: string, prefix?: string) {
    for (const args of [['down'], ['up', '-d'], ['down']]) {
      checks++;
      const targets = await traced(args, config.root, prefix);
      if (targets.includes(decoy)) hits.push(`${label}: ${args.join(' ')} signalled ${decoy}`);
      if (!isAlive(decoy)) hits.push(`${label}: decoy ${decoy} died after ${args.join(' ')}`);
      prefix = undefined; // only the first run needs the shell set-up
    }
  }

  const runs = count(1, 5);

  it('a record whose PID was reused by another process', async () => {
    for (let i = 0; i < runs; i++) {
      const config = await makeStack({ api: { command: nodeFixture('sleep.mjs') } });
      const decoy = spawnPlain(nodeFixture('sleep.mjs')).pid as number;
      await waitFor(() => isAlive(decoy), 2000, 'the decoy');
      const looked = inspector.lookup(decoy);
      const real = looked.kind === 'alive' ? looked.info.startTime : '1';
      plantRecord(config, 'api', decoy, { startTime: earlierStartTime(real) });
      await exercise(config, decoy, 'reused pid');
    }
    expect(hits).to.deep.equal([]);
  });

  it("a record naming the launcher's own process group as the service's", async () => {
    for (let i = 0; i < runs; i++) {
      const config = await makeStack({ api: { command: nodeFixture('sleep.mjs') } });
      const pidFile = join(tempDir(), 'decoy.pid');
      // sh starts the decoy in the launcher's group, then becomes the launcher (exec).
      const prefix = `${JSON.stringify(process.execPath)} ${JSON.stringify(fixture('sleep.mjs'))} >/dev/null & echo $! > ${pidFile}; sleep 0.5`;
      const first = traced(['down'], config.root, prefix);
      await waitFor(
        () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '',
        3000,
        'the decoy pid',
      );
      const decoy = track(Number(readFileSync(pidFile, 'utf8')));
      await waitFor(() => isAlive(decoy), 2000, 'the decoy');
      const looked = inspector.lookup(decoy);
      const group = looked.kind === 'alive' ? looked.info.pgid : 0;
      // The record names a real process of its own (it verifies) but the launcher's group.
      const recorded = spawnPlain(nodeFixture('sleep.mjs')).pid as number;
      await waitFor(() => isAlive(recorded), 2000, 'the recorded process');
      plantRecord(config, 'api', recorded, { pgid: group });
      checks++;
      const targets = await first;
      if (targets.includes(decoy)) hits.push(`own group: down signalled the decoy ${decoy}`);
      if (targets.includes(group)) hits.push(`own group: down signalled the group ${group}`);
      if (!isAlive(decoy)) hits.push(`own group: decoy ${decoy} died`);
      process.kill(decoy, 'SIGKILL'); // ours: started by our sh, by PID
    }
    expect(hits).to.deep.equal([]);
  });

  it('PID 1 in the PID file and the record', async () => {
    for (let i = 0; i < runs; i++) {
      const config = await makeStack({
        api: { command: nodeFixture('listen.mjs'), port: await freePort() },
      });
      plantRecord(config, 'api', 1);
      await exercise(config, 1, 'pid 1');
    }
    expect(hits).to.deep.equal([]);
  });

  it("the test runner's own PID in the record", async () => {
    for (let i = 0; i < runs; i++) {
      const config = await makeStack({
        api: { command: nodeFixture('listen.mjs'), port: await freePort() },
      });
      plantRecord(config, 'api', process.pid);
      await exercise(config, process.pid, 'runner pid');
    }
    expect(hits).to.deep.equal([]);
  });

  after(() => {
    score({
      scenario: `decoys (reused PID, the launcher's own group, PID 1, the test runner), each under down, up -d, down${HAS_STRACE ? ', traced with strace' : ''}`,
      runs: checks,
      figure: `${allHits.length} signals to a decoy; every decoy alive`,
      target: '0',
      pass: allHits.length === 0,
    });
  });
});
