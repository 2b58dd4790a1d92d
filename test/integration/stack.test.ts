import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { portOf } from '../../lib/state/record.js';
import { runCli } from '../helpers/cli.js';
import { instances, markedPids, recordOf, startCli, waitReady } from '../helpers/e2e.js';
import { freePort, listenersOn } from '../helpers/ports.js';
import { isAlive, pidsIn, SLACK_MS, waitFor } from '../helpers/procs.js';
import { makeStack, nodeFixture, spawnPlain } from '../helpers/stack.js';
import { project, tempDir } from '../helpers/tmp.js';

function listen(port: number | 'auto', env: Record<string, string> = {}, extra = {}) {
  return { command: nodeFixture('listen.mjs'), port, env, stopTimeout: 3000, ...extra };
}

function stamps(file: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    const [name, event, at] = line.split(' ');
    out.set(`${name} ${event}`, Number(at));
  }
  return out;
}

describe('stack: up, down, status, run (the CLI end to end)', () => {
  it('starts a dependent only after its dependency is ready, and a subset with its dependencies', async () => {
    const stampFile = join(tempDir(), 'stamps');
    const config = await makeStack({
      api: listen(await freePort(), { NAME: 'api', STAMP_FILE: stampFile, DELAY: '300' }),
      web: listen(await freePort(), { NAME: 'web', STAMP_FILE: stampFile }, { dependsOn: ['api'] }),
      other: listen(await freePort(), { NAME: 'other' }),
    });
    const result = await runCli(['up', '-d', 'web'], { cwd: config.root });
    expect(result.code, result.stderr).to.equal(0);
    const at = stamps(stampFile);
    expect(at.get('web start')).to.be.greaterThan(at.get('api listening') as number);
    expect(recordOf(config, 'other')).to.equal(null);
    expect(result.stdout).to.match(/2 services up in .*: api localhost:\d+ \(pid \d+\) · web/);
  });

  it('up -d twice keeps the running instance; --replace and restart replace it', async () => {
    const config = await makeStack({ api: listen(await freePort()) });
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    const first = recordOf(config, 'api')?.pid as number;
    const again = await runCli(['up', '-d'], { cwd: config.root });
    expect(again.stdout).to.include('api: already running (kept)');
    expect(recordOf(config, 'api')?.pid).to.equal(first);
    expect((await runCli(['restart', 'api'], { cwd: config.root })).code).to.equal(0);
    const second = recordOf(config, 'api')?.pid as number;
    expect(second).not.to.equal(first);
    expect(isAlive(first)).to.equal(false);
    expect(instances(config).get('api')?.size).to.equal(1);
  });

  it('a changed config replaces the running instance', async () => {
    const port = await freePort();
    const config = await makeStack({ api: listen(port, { MODE: 'one' }) });
    await runCli(['up', '-d'], { cwd: config.root });
    const first = recordOf(config, 'api')?.pid as number;
    const file = join(config.root, 'launch.config.mjs');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"one"', '"two"'));
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    expect(recordOf(config, 'api')?.pid).not.to.equal(first);
    expect(isAlive(first)).to.equal(false);
  });

  it('parallel up -d from 12 processes gives one instance per service and port', async () => {
    const config = await makeStack({
      api: listen(await freePort(), { DELAY: '200' }),
      web: listen(await freePort(), {}, { dependsOn: ['api'] }),
    });
    const results = await Promise.all(
      Array.from({ length: 12 }, () => runCli(['up', '-d'], { cwd: config.root, timeout: 30_000 })),
    );
    for (const r of results) expect(r.code, r.stderr).to.equal(0);
    const found = instances(config);
    expect(found.get('api')?.size).to.equal(1);
    expect(found.get('web')?.size).to.equal(1);
    for (const r of results) expect(r.stdout + r.stderr).not.to.include('EADDRINUSE');
  });

  it('down stops whole trees, dependents first, and removes the records', async () => {
    const pidFile = join(tempDir(), 'pids');
    const config = await makeStack({
      api: listen(await freePort()),
      tree: {
        command: nodeFixture('tree.mjs'),
        env: { PID_FILE: pidFile },
        dependsOn: { api: 'started' },
      },
    });
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    await waitFor(() => pidsIn(pidFile).length === 3, 5000, 'the tree');
    const result = await runCli(['down'], { cwd: config.root });
    expect(result.code).to.equal(0);
    expect(result.stdout).to.match(/stopped tree \(pid \d+, [\d.]+ m?s\)\n.*stopped api/);
    expect(pidsIn(pidFile).filter(isAlive)).to.deep.equal([]);
    expect(markedPids(config)).to.deep.equal([]);
    for (const f of ['api.json', 'api.pid', 'tree.json', 'tree.pid'])
      expect(existsSync(join(config.pidDir, f))).to.equal(false);
    const twice = await runCli(['down'], { cwd: config.root });
    expect(twice.code).to.equal(0);
    expect(twice.stdout).to.include('api was not running');
  });

  it('status --json has a stable shape; exit 0 when all run and are ready, 3 otherwise', async () => {
    const config = await makeStack({ api: listen(await freePort()), web: listen('auto') });
    const before = await runCli(['status', '--json'], { cwd: config.root });
    expect(before.code).to.equal(3);
    await runCli(['up', '-d'], { cwd: config.root });
    const after = await runCli(['status', '--json'], { cwd: config.root });
    expect(after.code).to.equal(0);
    const parsed = JSON.parse(after.stdout) as Record<string, unknown>[];
    expect(parsed.map((s) => s.name)).to.deep.equal(['api', 'web']);
    for (const s of parsed) {
      expect(s).to.have.all.keys(
        'name',
        'state',
        'pid',
        'port',
        'portOwner',
        'ready',
        'startedAt',
        'uptimeMs',
        'restarts',
        'heldBy',
        'detached',
        'managedBy',
        'logFile',
        'warnings',
        'lastExit',
        'keeper',
        'health',
        'cpu',
        'rss',
      );
      expect(s.state).to.equal('running');
      expect(s.detached, 'up -d asked it to stay').to.equal(true);
      expect(s.heldBy).to.deep.equal([]);
      expect(s.ready).to.equal(true);
      expect(s.portOwner).to.equal('self');
      // The group's memory and CPU, on either backend (/proc, or ps -o pcpu,rss)
      expect(s.rss, 'a node process is resident in megabytes').to.be.a('number').above(5e6);
      expect(s.cpu).to.be.a('number').at.least(0);
    }
    const webRecord = recordOf(config, 'web');
    expect(parsed[1]?.port).to.equal(portOf({ ports: String(webRecord?.ports) }, 'web'));
    const one = await runCli(['status', 'api'], { cwd: config.root });
    expect(one.code).to.equal(0);
    expect(one.stdout).to.match(/^api +running +\d+ +\d+ +itself +yes/m);
  });

  it('status warns about a second copy, a stale PID file and a foreign process on the port', async () => {
    const port = await freePort();
    const config = await makeStack({ api: listen(port), db: listen(await freePort()) });
    await runCli(['up', '-d', 'api'], { cwd: config.root });
    const svc = config.services.api;
    const copy = spawnPlain([...(svc?.argv ?? [])], { PORT: String(await freePort()) }, svc?.cwd);
    writeFileSync(join(config.pidDir, 'db.pid'), '999999999\n');
    await waitFor(() => isAlive(copy.pid as number), 2000, 'the copy');
    const result = await runCli(['status'], { cwd: config.root });
    expect(result.code).to.equal(3);
    expect(result.stdout).to.include(
      `api: multiple instances: '${svc?.commandText}' also runs outside launchguard: pid ${copy.pid}`,
    );
    expect(result.stdout).to.match(/db: corrupt .*db\.pid/);
  });

  it('run passes the ports, exits with the command code, and stops what it started', async () => {
    const config = await makeStack({ api: listen(await freePort()) });
    const out = join(tempDir(), 'env');
    const script = `require('fs').writeFileSync(${JSON.stringify(out)}, process.env.API_PORT); process.exit(7)`;
    const result = await runCli(['run', process.execPath, '-e', script], { cwd: config.root });
    expect(result.code, result.stderr).to.equal(7);
    expect(readFileSync(out, 'utf8')).to.equal(String(config.services.api?.port));
    expect(markedPids(config)).to.deep.equal([]);
    expect(recordOf(config, 'api')).to.equal(null);
  });

  it('run passes a SIGTERM on to the command and still stops the stack', async () => {
    const config = await makeStack({ api: listen(await freePort()) });
    const run = startCli(
      ['run', process.execPath, nodeFixture('sleep.mjs')[1] as string],
      config.root,
    );
    await waitFor(() => run.output().includes('sleep '), 10_000, 'the command');
    run.child.kill('SIGTERM');
    expect(await run.exited).to.equal(0); // sleep.mjs exits 0 on SIGTERM
    expect(run.output()).to.match(/stopped api/);
    expect(markedPids(config)).to.deep.equal([]);
  });

  it('run does not run the command when the stack fails to start (exit 1)', async () => {
    const config = await makeStack({
      api: { command: nodeFixture('exit-early.mjs'), port: await freePort() },
    });
    const out = join(tempDir(), 'ran');
    const result = await runCli(
      [
        'run',
        '--',
        process.execPath,
        '-e',
        `require('fs').writeFileSync(${JSON.stringify(out)}, '1')`,
      ],
      { cwd: config.root },
    );
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include(
      'api: exited with code 3 before it was ready; the command did not run',
    );
    expect(existsSync(out)).to.equal(false);
  });

  it('a failing service makes up -d exit 1 and rolls back what it started', async () => {
    const config = await makeStack({
      api: listen(await freePort()),
      web: { command: nodeFixture('exit-early.mjs'), port: await freePort(), dependsOn: ['api'] },
    });
    const result = await runCli(['up', '-d'], { cwd: config.root });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/^error: web: exited with code 3 before it was ready/m);
    expect(result.stderr).to.include('fatal: cannot connect to the database');
    expect(markedPids(config)).to.deep.equal([]);
    expect(recordOf(config, 'api')).to.equal(null);
  });

  it('a one-shot task runs to completion before its dependents; a failing task stops the start', async () => {
    const marker = join(tempDir(), 'migrated');
    const migrate = [
      process.execPath,
      '-e',
      `require('fs').writeFileSync(${JSON.stringify(marker)}, '1')`,
    ];
    const ok = await makeStack({
      migrate: { command: migrate },
      api: listen(await freePort(), {}, { dependsOn: { migrate: 'completed' } }),
    });
    const up = await runCli(['up', '-d'], { cwd: ok.root });
    expect(up.code, up.stderr).to.equal(0);
    expect(up.stdout).to.include('migrate: completed');
    expect(existsSync(marker)).to.equal(true);
    const bad = await makeStack({
      migrate: { command: [process.execPath, '-e', 'process.exit(4)'] },
      api: listen(await freePort(), {}, { dependsOn: { migrate: 'completed' } }),
    });
    const failed = await runCli(['up', '-d'], { cwd: bad.root });
    expect(failed.code).to.equal(1);
    expect(failed.stderr).to.include('migrate: the task exited with code 4');
    expect(recordOf(bad, 'api')).to.equal(null);
  });

  it('up -d beside a restart, and two restarts at once, all exit 0 with one instance (20 tries)', async function () {
    this.timeout(120_000);
    const port = await freePort();
    const config = await makeStack({ api: listen(port, { DELAY: '100', QUIET: '1' }) });
    const failures: string[] = [];
    for (let i = 0; i < 20; i++) {
      const pair = i % 2 === 0 ? [['up', '-d'], ['restart']] : [['restart'], ['restart']];
      const results = await Promise.all(
        pair.map((args) => runCli(args, { cwd: config.root, timeout: 60_000 })),
      );
      results.forEach((r, k) => {
        if (r.code !== 0)
          failures.push(`try ${i}, ${pair[k]?.join(' ')}: ${r.stderr.split('\n')[0]}`);
      });
      const listeners = listenersOn(port).length;
      if (listeners !== 1) failures.push(`try ${i}: ${listeners} listeners`);
      if (i % 2 === 1) await runCli(['down'], { cwd: config.root });
    }
    expect(failures).to.deep.equal([]);
  });

  it('a completed task: status exits 0, restart and up -d do not run it again, down forgets it', async () => {
    const counter = join(tempDir(), 'runs');
    const migrate = [
      process.execPath,
      '-e',
      `require('fs').appendFileSync(${JSON.stringify(counter)}, 'x')`,
    ];
    const config = await makeStack({
      migrate: { command: migrate },
      api: listen(await freePort(), {}, { dependsOn: { migrate: 'completed' } }),
    });
    const runs = () => readFileSync(counter, 'utf8').length;
    const up = await runCli(['up', '-d'], { cwd: config.root });
    expect(up.code, up.stderr).to.equal(0);
    expect(up.stdout).to.match(/1 service up, 1 task completed in/);
    expect(up.stdout).not.to.match(/migrate: ready in/);
    const status = await runCli(['status', '--json'], { cwd: config.root });
    expect(status.code, status.stdout).to.equal(0);
    const task = (
      JSON.parse(status.stdout) as { name: string; state: string; lastExit: unknown }[]
    )[0];
    expect(task).to.deep.include({ name: 'migrate', state: 'completed' });
    expect(task?.lastExit).to.include({ code: 0 });
    for (const args of [
      ['restart', 'api'],
      ['up', '-d'],
    ]) {
      const again = await runCli(args, { cwd: config.root });
      expect(again.code, `${args.join(' ')}: ${again.stderr}`).to.equal(0);
      expect(again.stdout).to.include('migrate: completed earlier (not run again)');
    }
    expect(runs(), 'the task ran once').to.equal(1);
    const down = await runCli(['down'], { cwd: config.root });
    expect(down.stdout).not.to.include('migrate was not running');
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    expect(runs(), 'a fresh start runs it again').to.equal(2);
    const run = await runCli(['run', '--', process.execPath, '-e', '0'], { cwd: config.root });
    expect(run.code, run.stderr).to.equal(0);
    expect(runs(), 'run runs it again').to.equal(3);
  });

  it("rerun: 'on-change' keeps a task's result across down; a watched file, down <task> or run rerun it", async () => {
    const counter = join(tempDir(), 'runs');
    const config = await makeStack({
      migrate: {
        command: [
          process.execPath,
          '-e',
          `require('fs').appendFileSync(${JSON.stringify(counter)}, 'x')`,
        ],
        rerun: 'on-change',
        watch: ['migrations'],
      },
      api: listen(await freePort(), {}, { dependsOn: { migrate: 'completed' } }),
    });
    const migrations = join(config.root, 'migrations');
    mkdirSync(migrations);
    writeFileSync(join(migrations, '001.sql'), 'create table t (id int);\n');
    const runs = () => readFileSync(counter, 'utf8').length;
    const cycle = async () => {
      const up = await runCli(['up', '-d'], { cwd: config.root });
      expect(up.code, up.stderr).to.equal(0);
      const down = await runCli(['down'], { cwd: config.root });
      expect(down.code, down.stderr).to.equal(0);
      return up.stdout;
    };
    await cycle();
    expect(runs(), 'the first start runs it').to.equal(1);
    expect(await cycle()).to.include('migrate: completed earlier (not run again)');
    expect(runs(), 'down kept its result: not run again').to.equal(1);
    // A new migration file (written after it completed) makes the next start run it.
    await sleep(20);
    writeFileSync(join(migrations, '002.sql'), 'alter table t add x int;\n');
    await cycle();
    expect(runs(), 'a watched file changed: run again').to.equal(2);
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    expect(runs()).to.equal(2);
    const named = await runCli(['down', 'migrate'], { cwd: config.root });
    expect(named.code, named.stderr).to.equal(0);
    await cycle();
    expect(runs(), 'down migrate forgot its result').to.equal(3);
    const run = await runCli(['run', '--', process.execPath, '-e', '0'], { cwd: config.root });
    expect(run.code, run.stderr).to.equal(0);
    expect(runs(), 'run runs it again').to.equal(4);
    expect(markedPids(config)).to.deep.equal([]);
  });

  it('rerun on a service that is no one-shot task is a config error (exit 2)', async () => {
    const api = { ...listen(await freePort()), rerun: 'on-change' };
    const dir = project({
      'launch.config.mjs': `export default ${JSON.stringify({ services: { api } })};\n`,
    });
    const up = await runCli(['up', '-d'], { cwd: dir });
    expect(up.code).to.equal(2);
    expect(up.stderr).to.include(
      "services.api.rerun: 'api' is not a one-shot task: no service waits for it with dependsOn: { api: 'completed' }",
    );
    expect(existsSync(join(dir, '.pids', 'api.json')), 'nothing started').to.equal(false);
  });

  it('Ctrl-C in the foreground stops everything and leaves nothing', async () => {
    const pidFile = join(tempDir(), 'pids');
    const config = await makeStack({
      api: listen(await freePort()),
      tree: { command: nodeFixture('tree.mjs'), env: { PID_FILE: pidFile }, dependsOn: ['api'] },
    });
    const up = startCli(['up'], config.root);
    await waitReady(config, ['api', 'tree']);
    await waitFor(() => up.output().includes('press Ctrl-C to stop'), 5000, 'the summary');
    up.child.kill('SIGINT');
    expect(await up.exited).to.equal(0);
    expect(up.output()).to.match(/api +\| listen listening on/);
    expect(up.output()).to.match(/stopped tree .*\n.*stopped api/);
    expect(pidsIn(pidFile).filter(isAlive)).to.deep.equal([]);
    expect(markedPids(config)).to.deep.equal([]);
    expect(recordOf(config, 'api')).to.equal(null);
  });

  it('a second Ctrl-C after a pause forces a stubborn service; a doubled one is debounced', async () => {
    const config = await makeStack({
      stubborn: {
        command: nodeFixture('ignore-term.mjs'),
        stopTimeout: 30_000,
        ready: { log: 'up' },
      },
    });
    const up = startCli(['up'], config.root);
    await waitReady(config, ['stubborn']);
    await waitFor(() => up.output().includes('press Ctrl-C'), 5000, 'the summary');
    const started = Date.now();
    up.child.kill('SIGINT');
    up.child.kill('SIGINT'); // npm forwarding the same Ctrl-C: ignored
    await sleep(800);
    expect(markedPids(config)).to.have.length(1);
    up.child.kill('SIGINT');
    await up.exited;
    expect(Date.now() - started).to.be.below(5000 + SLACK_MS);
    expect(markedPids(config)).to.deep.equal([]);
    expect(up.output()).to.include('killed stubborn');
  });

  it('kill -9 of a foreground up, then up -d and down: one instance, then nothing', async () => {
    const config = await makeStack({
      api: listen(await freePort()),
      web: listen(await freePort(), {}, { dependsOn: ['api'] }),
    });
    const up = startCli(['up'], config.root);
    await waitReady(config, ['api', 'web']);
    up.child.kill('SIGKILL');
    await up.exited;
    expect((await runCli(['up', '-d'], { cwd: config.root })).code).to.equal(0);
    const found = instances(config);
    expect(found.get('api')?.size).to.equal(1);
    expect(found.get('web')?.size).to.equal(1);
    expect((await runCli(['down'], { cwd: config.root })).code).to.equal(0);
    expect(markedPids(config)).to.deep.equal([]);
  });

  it('a crash loop ends in a clear failed state after maxRestarts', async () => {
    const config = await makeStack({
      crashy: {
        command: nodeFixture('exit-early.mjs'),
        env: { LINES: '1', DELAY: '50' },
        restart: 'always',
        maxRestarts: 2,
      },
    });
    const up = startCli(['up'], config.root);
    const code = await up.exited;
    expect(code).to.equal(1);
    expect(up.output()).to.include('restart 1/2');
    expect(up.output()).to.include('restart 2/2');
    expect(up.output()).to.include(
      'crashy exited with code 3; failed after 2 restarts in a row (crash loop)',
    );
    expect(markedPids(config)).to.deep.equal([]);
  });

  it('logs shows the end of each log with a name prefix', async () => {
    const config = await makeStack({ api: listen(await freePort(), { NAME: 'api' }) });
    await runCli(['up', '-d'], { cwd: config.root });
    const result = await runCli(['logs', '-n', '1'], { cwd: config.root });
    expect(result.code).to.equal(0);
    expect(result.stdout).to.match(/^api \| api listening on 127\.0\.0\.1:\d+$/m);
  });
});
