import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { ResolvedConfig } from '../../lib/config/types.js';
import type { ServiceStatus } from '../../lib/query/status.js';
import { runCli } from '../helpers/cli.js';
import { markedPids, recordOf, startCli } from '../helpers/e2e.js';
import { freePort, listenersOn } from '../helpers/ports.js';
import { isAlive, SLACK_MS, track, waitFor, waitForAsync } from '../helpers/procs.js';
import { listenService, makeStack, nodeFixture } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

async function statusOf(config: ResolvedConfig): Promise<ServiceStatus[]> {
  const result = await runCli(['status', '--json'], { cwd: config.root });
  return JSON.parse(result.stdout) as ServiceStatus[];
}

/** Waits until `service` runs again as a process other than `pid`, and is ready. */
function readyAgain(config: ResolvedConfig, service: string, pid: number, who: string) {
  return waitFor(
    () => {
      const r = recordOf(config, service);
      return typeof r?.pid === 'number' && r.pid !== pid && typeof r.readyAt === 'string';
    },
    5000,
    `${who} to restart it`,
  );
}

function keeperPid(config: ResolvedConfig): number {
  const record = JSON.parse(readFileSync(join(config.pidDir, '.keeper.json'), 'utf8')) as {
    pid: number;
  };
  return track(record.pid);
}

describe('the keeper: a detached stack stays alive after up -d returns', () => {
  it('kill -9 of an on-failure service: ready again within its back-off + 1 s, with the signal', async () => {
    const port = await freePort();
    const config = await makeStack({
      api: { ...listenService(port), restart: 'on-failure' },
    });
    const up = await runCli(['up', '-d'], { cwd: config.root });
    expect(up.code, up.stderr).to.equal(0);
    const first = recordOf(config, 'api')?.pid as number;
    process.kill(first, 'SIGKILL'); // ours: this test's service
    const killed = performance.now();
    await readyAgain(config, 'api', first, 'the keeper');
    expect(performance.now() - killed, 'within the back-off (500 ms) + 1 s').to.be.below(1500);
    const [api] = await statusOf(config);
    expect(api).to.deep.include({ state: 'running', restarts: 1, keeper: keeperPid(config) });
    expect(api?.lastExit).to.include({ signal: 'SIGKILL' });
    expect((await runCli(['down'], { cwd: config.root })).code).to.equal(0);
  });

  it("a restart: 'no' service that exits 3: status shows lastExit.code 3", async () => {
    const port = await freePort();
    const config = await makeStack({
      api: {
        command: [
          process.execPath,
          '-e',
          `require('http').createServer().listen(${port}, '127.0.0.1'); setTimeout(() => process.exit(3), 600)`,
        ],
        port,
      },
    });
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    await waitForAsync(
      async () => (await statusOf(config))[0]?.lastExit?.code === 3,
      5000,
      'the exit to be recorded',
    );
    const status = await runCli(['status'], { cwd: config.root });
    expect(status.code).to.equal(3);
    await runCli(['down'], { cwd: config.root });
  });

  it('kill -9 of the keeper leaves every service; the next up -d adopts them (same pids); down leaves nothing', async () => {
    const config = await makeStack({
      api: { ...listenService(await freePort()), restart: 'always' },
      web: { ...listenService(await freePort()), dependsOn: ['api'] },
    });
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    const pids = markedPids(config);
    const keeper = keeperPid(config);
    process.kill(keeper, 'SIGKILL'); // ours: the keeper this test's up -d started
    await waitFor(() => !isAlive(keeper), 3000, 'the keeper to die');
    expect(markedPids(config), 'services untouched').to.deep.equal(pids);
    const status = await runCli(['status'], { cwd: config.root });
    expect(status.stdout + status.stderr).to.match(
      /keeper: not running: restarts and health checks/,
    );
    const again = await runCli(['up', '-d'], { cwd: config.root });
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.include('api: already running (kept)');
    expect(markedPids(config), 'adopted, not restarted').to.deep.equal(pids);
    const next = keeperPid(config);
    expect(next).to.not.equal(keeper);
    expect(isAlive(next)).to.equal(true);
    const down = await runCli(['down'], { cwd: config.root });
    expect(down.code, down.stderr).to.equal(0);
    await waitFor(() => !isAlive(next), 3000, 'the keeper to leave');
    expect(markedPids(config)).to.deep.equal([]);
    for (const svc of Object.values(config.services))
      expect(listenersOn(svc.port as number)).to.have.length(0);
  });

  it('a service whose /health starts failing: unhealthy within interval x failures + 1 s, then restarted', async () => {
    const port = await freePort();
    const sick = join(tempDir(), 'sick');
    const server = `require('http').createServer((q, s) => { s.writeHead(require('fs').existsSync(${JSON.stringify(sick)}) ? 500 : 200); s.end(); }).listen(${port}, '127.0.0.1')`;
    const config = await makeStack({
      api: {
        command: [process.execPath, '-e', server],
        port,
        ready: { http: '/health' },
        health: { http: '/health', interval: 300, failures: 2 },
        restart: 'on-failure',
        stopTimeout: 1000,
      },
    });
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    const first = recordOf(config, 'api')?.pid as number;
    await waitForAsync(
      async () => (await statusOf(config))[0]?.health === 'healthy',
      5000,
      'healthy',
    );
    writeFileSync(sick, '');
    const since = performance.now();
    await waitFor(() => recordOf(config, 'api')?.health === 'unhealthy', 5000, 'unhealthy');
    expect(performance.now() - since, 'within 300 ms x 2 + 1 s').to.be.below(1600);
    rmSync(sick);
    await waitFor(
      () => {
        const r = recordOf(config, 'api');
        return typeof r?.pid === 'number' && r.pid !== first && r.readyAt !== undefined;
      },
      5000,
      'the restart',
    );
    const [api] = await statusOf(config);
    expect(api).to.include({ state: 'running', restarts: 1 });
    await runCli(['down'], { cwd: config.root });
  });

  it('a chatty detached service with logs.maxSize 100 kB stays under 2 x maxSize on disk while running', async function () {
    this.timeout(30_000);
    const line = 'x'.repeat(1000);
    const config = await makeStack(
      {
        talk: {
          command: [
            process.execPath,
            '-e',
            `setInterval(() => { for (let i = 0; i < 2; i++) console.log(${JSON.stringify(line)}); }, 1)`,
          ],
        },
      },
      { logs: { maxSize: 100_000, keep: 2 } },
    );
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    const log = join(config.pidDir, 'talk.log');
    let largest = 0;
    const until = performance.now() + 3000;
    while (performance.now() < until) {
      largest = Math.max(largest, statSync(log).size);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(existsSync(`${log}.1`), 'rotated while running').to.equal(true);
    expect(largest, 'the live log').to.be.below(200_000);
    expect(statSync(`${log}.1`).size).to.be.below(200_000);
    await runCli(['down'], { cwd: config.root });
  });

  it('foreground up keeps a chatty log under 2 x maxSize while running, losing no line', async function () {
    this.timeout(30_000);
    const config = await makeStack(
      {
        talk: {
          command: [
            process.execPath,
            '-e',
            `let n = 0; const t = setInterval(() => { for (let i = 0; i < 20; i++) console.log(String(n++).padStart(999, '.')); if (n >= 6000) { clearInterval(t); setInterval(() => {}, 1000); } }, 1)`,
          ],
        },
      },
      { logs: { maxSize: 100_000, keep: 100 } },
    );
    const up = startCli(['up'], config.root);
    const log = join(config.pidDir, 'talk.log');
    let largest = 0;
    const until = performance.now() + 20_000;
    // A rotation renames the files while this reads them: one gone meanwhile reads as absent
    // (a CI run failed on ENOENT between an existsSync and its readFileSync).
    const read = (f: string) => {
      try {
        return readFileSync(f, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    };
    const all = () => {
      const files = [log, ...Array.from({ length: 100 }, (_, i) => `${log}.${i + 1}`)];
      return files.flatMap((f) => read(f)?.split('\n') ?? []);
    };
    // Until the last line is in the log (the terminal may not show it: the foreground
    // drops lines a slow reader leaves unread; the logs keep every one).
    const done = () => [log, `${log}.1`].some((f) => read(f)?.endsWith('.5999\n') === true);
    while (performance.now() < until && !done()) {
      try {
        largest = Math.max(largest, statSync(log).size);
      } catch {
        // renamed by a rotation meanwhile: the next look sees the new one
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(done(), 'the last line written within 20 s').to.equal(true);
    up.child.kill('SIGTERM');
    await up.exited;
    expect(existsSync(`${log}.1`), 'rotated while running').to.equal(true);
    expect(largest, 'the live log').to.be.below(200_000);
    // The launcher writes the log itself in the foreground: the rotation loses nothing.
    const numbers = all()
      .filter((l) => l.startsWith('...'))
      .map((l) => Number(l.replace(/^\.+/, '')));
    expect(new Set(numbers).size).to.equal(6000);
  });

  it('logs -t shows when each line was written, seen by the keeper and by a foreground up', async () => {
    const say = (words: string) => ({
      command: [
        process.execPath,
        '-e',
        `const [a, b] = ${JSON.stringify(words.split(' '))}; console.log(a); setTimeout(() => console.log(b), 700); setInterval(() => {}, 1000)`,
      ],
    });
    const config = await makeStack({ bg: say('first second'), fg: say('alpha beta') });
    const began = Date.now();
    expect((await runCli(['up', '-d', 'bg'], { cwd: config.root })).code).to.equal(0);
    const fg = startCli(['up', 'fg'], config.root);
    await waitFor(() => fg.output().includes('beta'), 5000, 'the foreground output');
    await waitForAsync(
      async () => (await runCli(['logs', 'bg'], { cwd: config.root })).stdout.includes('second'),
      5000,
      'the second line',
    );
    const result = await runCli(['logs', '-t', 'bg', 'fg'], { cwd: config.root });
    expect(result.code, result.stderr).to.equal(0);
    const timeOf = (word: string) => {
      const line = result.stdout.split('\n').find((l) => l.endsWith(` ${word}`)) ?? '';
      const m = / (\d{4}-\d\d-\d\dT[\d:.]+Z) /.exec(line);
      expect(m, `a time on the line of ${word}:\n${result.stdout}`).to.not.equal(null);
      return Date.parse(m?.[1] as string);
    };
    for (const [a, b] of [
      ['first', 'second'],
      ['alpha', 'beta'],
    ] as const) {
      expect(timeOf(a)).to.be.within(began, Date.now());
      // written 700 ms apart: noted within a few ms of each write
      expect(timeOf(b) - timeOf(a)).to.be.within(600, 1000);
    }
    fg.child.kill('SIGTERM');
    await fg.exited;
    await runCli(['down'], { cwd: config.root });
  });

  it('logs -t times the lines a detached service writes before it is ready', async () => {
    // It writes 'early' at once, listens (ready) after 400 ms, and writes 'late' at 800 ms:
    // the keeper keeps the stack from the readiness on, but notes its log from the spawn.
    const config = await makeStack({
      bg: {
        command: [
          process.execPath,
          '-e',
          "console.log('early'); setTimeout(() => require('net').createServer().listen(+process.env.PORT, '127.0.0.1'), 400); setTimeout(() => console.log('late'), 800)",
        ],
        port: await freePort(),
      },
    });
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    await waitForAsync(
      async () => (await runCli(['logs', 'bg'], { cwd: config.root })).stdout.includes('late'),
      5000,
      'the late line',
    );
    const result = await runCli(['logs', '-t', 'bg'], { cwd: config.root });
    const timeOf = (word: string) => {
      const line = result.stdout.split('\n').find((l) => l.endsWith(` ${word}`)) ?? '';
      return Date.parse(/ (\d{4}-\d\d-\d\dT[\d:.]+Z) /.exec(line)?.[1] ?? '');
    };
    expect(timeOf('late') - timeOf('early'), result.stdout).to.be.within(600, 1000);
    await runCli(['down'], { cwd: config.root });
  });

  it('whoever holds a lease last supervises: a kept service is restarted after its starter left', async () => {
    const config = await makeStack({
      api: { ...listenService(await freePort()), restart: 'on-failure' },
    });
    const first = startCli(['up'], config.root);
    await waitFor(() => typeof recordOf(config, 'api')?.readyAt === 'string', 5000, 'api');
    const second = startCli(['up'], config.root);
    await waitFor(() => /kept|already running/i.test(second.output()), 5000, second.output());
    first.child.kill('SIGTERM');
    expect(await first.exited).to.equal(0);
    const pid = recordOf(config, 'api')?.pid as number;
    expect(isAlive(pid), 'still held by the second up').to.equal(true);
    process.kill(pid, 'SIGKILL'); // ours: this test's service
    await readyAgain(config, 'api', pid, 'the second up');
    second.child.kill('SIGTERM');
    expect(await second.exited).to.equal(0);
    expect(markedPids(config), 'nothing left').to.deep.equal([]);
  });

  it('up -d pins each service as it becomes ready; a failed start still stops every one it began', async () => {
    const config = await makeStack({
      api: listenService(await freePort()),
      web: listenService(await freePort()),
      // Fails after api and web are ready (pinned): the rollback must stop them all the same.
      bad: {
        command: nodeFixture('exit-early.mjs'),
        env: { DELAY: '1500', LINES: '1' },
        ready: { log: 'never printed' },
      },
    });
    const up = await runCli(['up', '-d'], { cwd: config.root });
    expect(up.code, up.stdout).to.equal(1);
    expect(up.stderr).to.match(/bad: exited with code 3 before it was ready/);
    expect(markedPids(config), 'nothing left running').to.deep.equal([]);
    for (const name of ['api', 'web']) {
      expect(listenersOn(config.services[name]?.port as number)).to.have.length(0);
      expect(recordOf(config, name), `${name}: no record left`).to.equal(null);
    }
  });

  it("after up -d each service has one lease, the keeper's; a completed task none", async () => {
    const config = await makeStack({
      migrate: { command: ['true'] },
      api: { ...listenService(await freePort()), dependsOn: { migrate: 'completed' } },
      web: { ...listenService(await freePort()), dependsOn: ['api'] },
    });
    const up = await runCli(['up', '-d'], { cwd: config.root });
    expect(up.code, up.stderr).to.equal(0);
    const keeper = keeperPid(config);
    const leases = (service: string) =>
      readdirSync(config.pidDir)
        .filter((f) => f.startsWith(`${service}.`) && f.endsWith('.lease'))
        .map(
          (f) => (JSON.parse(readFileSync(join(config.pidDir, f), 'utf8')) as { pid: number }).pid,
        );
    expect(leases('api')).to.deep.equal([keeper]);
    expect(leases('web')).to.deep.equal([keeper]);
    expect(leases('migrate')).to.deep.equal([]);
    for (const name of ['api', 'web'])
      expect(recordOf(config, name)).to.include({ detached: true });
    expect((await runCli(['down'], { cwd: config.root })).code).to.equal(0);
    expect(markedPids(config)).to.deep.equal([]);
  });

  it('a failed up -d on a running stack: the stack is still kept (a kill -9 is restarted)', async () => {
    const port = await freePort();
    const config = await makeStack({ api: { ...listenService(port), restart: 'on-failure' } });
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    const first = keeperPid(config);
    // The next up -d asks for a service that fails: what ran before must stay kept.
    const file = join(config.root, 'launch.config.mjs');
    const text = readFileSync(file, 'utf8').replace(
      '"services": {',
      `"services": { "bad": ${JSON.stringify({ command: nodeFixture('exit-early.mjs'), env: { LINES: '1' }, ready: { log: 'never printed' } })},`,
    );
    writeFileSync(file, text);
    const failed = await runCli(['up', '-d'], { cwd: config.root });
    expect(failed.code, failed.stdout).to.equal(1);
    const keeper = keeperPid(config);
    expect(isAlive(keeper), `a live keeper (the first was ${first})`).to.equal(true);
    const pid = recordOf(config, 'api')?.pid as number;
    process.kill(pid, 'SIGKILL'); // ours: this test's service
    await readyAgain(config, 'api', pid, 'the keeper');
    expect((await runCli(['down'], { cwd: config.root })).code).to.equal(0);
    expect(markedPids(config)).to.deep.equal([]);
  });

  it('up -d of 150 services returns: a result of a megabyte reaches the CLI whole', async function () {
    this.timeout(90_000);
    // Each record carries every service's port: the keeper's result grows with n².
    const services: Record<string, unknown> = {};
    for (let i = 0; i < 150; i++)
      services[`service-with-a-long-name-${i}`] = {
        command: ['sleep', '600'],
        port: await freePort(),
        ready: { exec: ['true'] },
      };
    const config = await makeStack(services);
    const up = await runCli(['up', '-d'], { cwd: config.root, timeout: 60_000 });
    expect(up.code, up.stderr).to.equal(0);
    expect(up.stdout).to.match(/150 services up/);
    expect(up.stdout, 'a summary line stays readable').to.include(
      "140 more ('launchguard status' lists them)",
    );
    expect((await runCli(['down'], { cwd: config.root, timeout: 60_000 })).code).to.equal(0);
    expect(markedPids(config)).to.deep.equal([]);
  });

  it('status --watch off a terminal prints a line per change (a restart), and ends on SIGTERM', async () => {
    const config = await makeStack({
      api: { ...listenService(await freePort()), restart: 'on-failure' },
    });
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    const watching = startCli(['status', '--watch'], config.root);
    await waitFor(
      () => /api: running pid \d+ restarts 0/.test(watching.output()),
      5000,
      'the first line',
    );
    process.kill(recordOf(config, 'api')?.pid as number, 'SIGKILL'); // ours: this test's service
    await waitFor(
      () => /api: running pid \d+ restarts 1/.test(watching.output()),
      8000,
      'the restart',
    );
    const lines = watching.output().trim().split('\n');
    expect(
      lines.every((l) => /^\S+ api: /.test(l)),
      watching.output(),
    ).to.equal(true);
    watching.child.kill('SIGTERM');
    expect(await watching.exited).to.equal(0);
    await runCli(['down'], { cwd: config.root });
  });

  it('watch: a touched file restarts only that service; dependents and the rest keep their pids', async () => {
    const config = await makeStack({
      api: { ...listenService(await freePort()), watch: ['src'] },
      web: { ...listenService(await freePort()), dependsOn: ['api'] },
    });
    mkdirSync(join(config.root, 'src'));
    writeFileSync(join(config.root, 'src', 'app.js'), '1');
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    const api = recordOf(config, 'api')?.pid as number;
    const web = recordOf(config, 'web')?.pid as number;
    // The keeper watches from just after up -d returned: change the file until it restarts.
    let n = 0;
    const touching = setInterval(
      () => writeFileSync(join(config.root, 'src', 'app.js'), String(++n)),
      400,
    );
    try {
      await waitFor(
        () => {
          const r = recordOf(config, 'api');
          return typeof r?.pid === 'number' && r.pid !== api && typeof r.readyAt === 'string';
        },
        10_000 + SLACK_MS,
        'api to be restarted',
      );
    } finally {
      clearInterval(touching);
    }
    expect(recordOf(config, 'web')?.pid, 'web untouched').to.equal(web);
    writeFileSync(join(config.pidDir, 'ignored.txt'), 'x'); // the state folder never counts
    await runCli(['down'], { cwd: config.root });
  });
});
