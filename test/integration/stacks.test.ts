import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '../../lib/config/load.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { identityOf } from '../../lib/os/identity.js';
import { systemInspector } from '../../lib/os/inspector.js';
import { stackId } from '../../lib/state/marker.js';
import { hasStackTrace, runCli } from '../helpers/cli.js';
import { markedPids, recordOf } from '../helpers/e2e.js';
import { freePort } from '../helpers/ports.js';
import { isAlive, trackStack, waitFor } from '../helpers/procs.js';
import { listenService, nodeFixture, spawnPlain } from '../helpers/stack.js';
import { project } from '../helpers/tmp.js';

/** One folder, two configs (`a.config.mjs`, `b.config.mjs`), each with the given services and pidDir. */
async function twoStacks(
  services: (which: 'a' | 'b') => Record<string, unknown>,
  pidDir: (which: 'a' | 'b') => string,
): Promise<{ a: ResolvedConfig; b: ResolvedConfig; dir: string }> {
  const text = (which: 'a' | 'b') =>
    `export default ${JSON.stringify({ pidDir: pidDir(which), services: services(which) })};\n`;
  const dir = project({ 'a.config.mjs': text('a'), 'b.config.mjs': text('b') });
  const a = await loadConfig({ cwd: dir, config: 'a.config.mjs' });
  const b = await loadConfig({ cwd: dir, config: 'b.config.mjs' });
  trackStack(stackId(a.name, a.file));
  trackStack(stackId(b.name, b.file));
  return { a, b, dir };
}

const sleeper = { command: nodeFixture('sleep.mjs'), stopTimeout: 1000 };

describe("stacks: one stack's records, leases and processes are its own", () => {
  it("two stacks sharing a pidDir never stop, replace or list each other's service", async () => {
    const { a, b, dir } = await twoStacks(
      () => ({ web: sleeper }),
      () => '.pids',
    );
    const upA = await runCli(['-c', 'a.config.mjs', 'up', '-d'], { cwd: dir });
    expect(upA.code, upA.stderr).to.equal(0);
    const pid = recordOf(a, 'web')?.pid as number;
    const B = (...args: string[]) => runCli(['-c', 'b.config.mjs', ...args], { cwd: dir });

    const status = await B('status');
    expect(status.code, status.stdout).to.equal(3);
    expect(status.stdout).to.include(`another stack, ${stackId(a.name, a.file)}`);
    const json = JSON.parse((await B('status', '--json')).stdout) as { pid: number | null }[];
    expect(json[0], 'not listed as its own').to.include({
      pid: null,
      state: 'not running',
    });

    const up = await B('up', '-d');
    expect(up.code, up.stderr).to.equal(1);
    expect(up.stderr).to.include(`another stack, ${stackId(a.name, a.file)}`);
    expect(up.stderr).to.match(/pidDir of its own/);
    expect(hasStackTrace(up.stderr)).to.equal(false);
    expect(recordOf(a, 'web')?.pid, "A's record untouched").to.equal(pid);

    for (const args of [['down'], ['down', '--no-deps', 'web']]) {
      const down = await B(...args);
      expect(down.code, down.stderr).to.equal(0);
      expect(down.stdout + down.stderr).to.include('left alone');
      expect(isAlive(pid), `A's web survives B's ${args.join(' ')}`).to.equal(true);
    }
    expect(markedPids(b)).to.deep.equal([]);
    const downA = await runCli(['-c', 'a.config.mjs', 'down'], { cwd: dir });
    expect(downA.code, downA.stderr).to.equal(0);
    expect(isAlive(pid)).to.equal(false);
  });

  it("another stack's service with the same command and cwd is not stopped, even with --force", async () => {
    const port = await freePort();
    const { a, dir } = await twoStacks(
      () => ({ web: listenService(port) }),
      (which) => `.pids-${which}`,
    );
    const upA = await runCli(['-c', 'a.config.mjs', 'up', '-d'], { cwd: dir });
    expect(upA.code, upA.stderr).to.equal(0);
    const pid = recordOf(a, 'web')?.pid as number;
    for (const force of [[], ['--force']]) {
      const up = await runCli(['-c', 'b.config.mjs', 'up', '-d', ...force], { cwd: dir });
      expect(up.code, `${force}: ${up.stderr}`).to.equal(1);
      expect(up.stderr).to.include(`service web of launchguard stack ${a.name}`);
      if (force.length > 0) expect(up.stderr).to.match(/--force does not cross stacks/);
      expect(isAlive(pid), `A's web survives B's up -d ${force}`).to.equal(true);
    }
  });

  it('a lease naming a process that is not a launcher (PID 1, a sleep) keeps nothing running', async () => {
    const dir = project({
      'launch.config.mjs': `export default ${JSON.stringify({ services: { svc: sleeper } })};\n`,
    });
    const config = await loadConfig({ cwd: dir });
    trackStack(stackId(config.name, config.file));
    const inspector = systemInspector();
    const stray = spawnPlain(['sleep', '60']); // not through sh: a forked sleep would outlive the cleanup
    await waitFor(() => identityOf(stray.pid as number, inspector) !== null);
    // A run starts the stack; while it runs, leases are planted beside its own.
    const planted = [1, stray.pid as number].map((pid) => identityOf(pid, inspector));
    const script = 'setTimeout(() => {}, 800);';
    const run = runCli(['run', '--', process.execPath, '-e', script], { cwd: dir });
    await waitFor(() => recordOf(config, 'svc') !== null, 10_000, 'the run to start svc');
    for (const identity of planted) {
      if (identity === null) continue;
      const nonce = randomBytes(8).toString('hex');
      const lease = {
        version: 1,
        ...identity,
        service: 'svc',
        holder: nonce,
        stack: stackId(config.name, config.file),
        since: new Date().toISOString(),
      };
      writeFileSync(join(config.pidDir, `svc.${nonce}.lease`), `${JSON.stringify(lease)}\n`, {
        mode: 0o600,
      });
    }
    const result = await run;
    expect(result.code, result.stderr).to.equal(0);
    expect(markedPids(config), 'the run, the last launcher, stopped it').to.deep.equal([]);
  });
});
