import type { ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'chai';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { LaunchError } from '../../lib/errors.js';
import type { ExitInfo } from '../../lib/exit.js';
import { downStack } from '../../lib/orchestrate/down.js';
import type { StackEvent } from '../../lib/orchestrate/events.js';
import { releaseStack } from '../../lib/orchestrate/release.js';
import { upStack } from '../../lib/orchestrate/up.js';
import { identityOf } from '../../lib/os/identity.js';
import type { SpawnedService, spawnService } from '../../lib/process/spawn.js';
import { stackStatus } from '../../lib/query/status.js';
import { waitService } from '../../lib/query/wait.js';
import type { LeaseHolder } from '../../lib/state/lease.js';
import { MARKER_ENV, stackOf } from '../../lib/state/marker.js';
import { servicePaths } from '../../lib/state/paths.js';
import { FakeOs } from '../helpers/fake-os.js';
import { failure, makeStack } from '../helpers/stack.js';

/**
 * The engine against a fake process table: `upStack`, `stackStatus`,
 * `waitService`, `releaseStack` and `downStack` with the FakeOs as their
 * inspector (and its `kill`), services "spawned" into it by a fake spawn. The
 * state folder is real (a temp folder); no process is started or signalled.
 */

let nextPid = 41_000;

/** A spawn that adds a process (with the instance's marker) to `os` instead of starting one. */
function fakeSpawn(os: FakeOs, fail: readonly string[] = []): typeof spawnService {
  return async (svc, options) => {
    if (fail.includes(svc.name))
      throw new LaunchError('E_SPAWN', `${svc.name}: spawn failed`, { service: svc.name });
    const pid = nextPid++;
    os.add({
      pid,
      argv: [...svc.argv],
      cwd: svc.cwd,
      env: { [MARKER_ENV]: options.marker },
    });
    writeFileSync(options.logFile, '', { flag: 'a', mode: 0o600 });
    const child = { ref: () => child, unref: () => child } as unknown as ChildProcess;
    const spawned: SpawnedService = {
      child,
      pid,
      pgid: pid,
      marker: options.marker,
      logFile: options.logFile,
      logOffset: 0,
      exit: new Promise<ExitInfo>(() => undefined),
    };
    return spawned;
  };
}

/** Two services without ports or checks: `db`, and `api` after it. */
function twoServices(): Promise<ResolvedConfig> {
  return makeStack({
    db: { command: ['fake-db'] },
    api: { command: ['fake-api'], dependsOn: ['db'] },
  });
}

function pidOf(config: ResolvedConfig, service: string): number {
  return Number(readFileSync(servicePaths(config.pidDir, service).pid, 'utf8'));
}

describe('the engine with a fake process table', () => {
  it('upStack starts dependencies first, records each instance, and leases it', async () => {
    const config = await twoServices();
    const os = new FakeOs();
    const up = await upStack(config, { inspector: os, spawn: fakeSpawn(os) });
    expect(up.services.map((s) => [s.name, s.outcome])).to.deep.equal([
      ['db', 'started'],
      ['api', 'started'],
    ]);
    expect(pidOf(config, 'db')).to.be.below(pidOf(config, 'api'));
    for (const name of ['db', 'api']) {
      expect(os.exists(pidOf(config, name)), name).to.equal(true);
      expect(os.environ(pidOf(config, name), MARKER_ENV)).to.match(
        new RegExp(`^${stackOf(config)}/${name}/`),
      );
    }
    expect(os.signals).to.deep.equal([]);
  });

  it('upStack rolls back what it started when a later service fails', async () => {
    const config = await twoServices();
    const os = new FakeOs();
    const error = await failure(upStack(config, { inspector: os, spawn: fakeSpawn(os, ['api']) }));
    expect(error.message).to.include('api: spawn failed');
    expect(os.listPids(), 'db stopped again').to.deep.equal([]);
    expect(os.signals.map(([, signal]) => signal)).to.deep.equal(['SIGTERM']);
    expect(existsSync(servicePaths(config.pidDir, 'db').record)).to.equal(false);
  });

  it('upStack skips the dependents of a failed service (E_DEPENDENCY) and throws the cause', async () => {
    const config = await twoServices();
    const os = new FakeOs();
    const events: StackEvent[] = [];
    const error = await failure(
      upStack(config, {
        inspector: os,
        spawn: fakeSpawn(os, ['db']),
        onEvent: (e) => events.push(e),
      }),
    );
    expect(error.code).to.equal('E_SPAWN');
    expect(events.find((e) => e.type === 'skipped')).to.deep.include({
      service: 'api',
      reason: 'db did not come up',
    });
  });

  it('upStack keeps a running instance with the same config', async () => {
    const config = await twoServices();
    const os = new FakeOs();
    await upStack(config, { inspector: os, spawn: fakeSpawn(os) });
    const again = await upStack(config, { inspector: os, spawn: fakeSpawn(os) });
    expect(again.services.map((s) => s.outcome)).to.deep.equal(['kept', 'kept']);
    expect(os.listPids()).to.have.length(2);
  });

  it('stackStatus reports running instances, and a stale record once the process is gone', async () => {
    const config = await twoServices();
    const os = new FakeOs();
    await upStack(config, { inspector: os, spawn: fakeSpawn(os) });
    const before = await stackStatus(config, { inspector: os });
    expect(before.map((s) => [s.name, s.state, s.pid])).to.deep.equal([
      ['db', 'running', pidOf(config, 'db')],
      ['api', 'running', pidOf(config, 'api')],
    ]);
    os.remove(pidOf(config, 'api'));
    const after = await stackStatus(config, { inspector: os, services: ['api'] });
    expect(after[0]?.state).to.equal('stale');
  });

  it('waitService follows the log of the recorded instance, and fails at its timeout without one', async () => {
    const config = await makeStack({
      worker: { command: ['fake-worker'], ready: { log: 'listening' }, readyTimeout: 5000 },
    });
    const os = new FakeOs();
    const none = await failure(waitService(config, 'worker', { inspector: os, timeout: 150 }));
    expect(none.code).to.equal('E_NOT_READY');
    expect(none.message).to.include('no launcher started it');
    const log = servicePaths(config.pidDir, 'worker').log;
    // A launcher that writes the line while it starts the worker.
    const starting = upStack(config, { inspector: os, spawn: fakeSpawn(os) });
    setTimeout(() => appendFileSync(log, 'worker listening\n'), 50);
    await starting;
    const ready = await waitService(config, 'worker', { inspector: os, timeout: 2000 });
    expect(ready.ms).to.be.below(2000);
  });

  it('releaseStack stops what no one else holds, and keeps what another launcher holds', async () => {
    const config = await twoServices();
    const os = new FakeOs([{ pid: 777, argv: ['node', 'launchguard', 'up'] }]);
    const identity = identityOf(777, os);
    if (identity === null) throw new Error('no fake launcher');
    const other: LeaseHolder = { nonce: 'a'.repeat(16), identity, stack: stackOf(config) };
    await upStack(config, { inspector: os, spawn: fakeSpawn(os), holder: other, services: ['db'] });
    const mine = await upStack(config, { inspector: os, spawn: fakeSpawn(os) });
    const down = await releaseStack(config, ['db', 'api'], mine.holder, { inspector: os });
    const byName = new Map(down.services.map((s) => [s.service, s]));
    expect(byName.get('db')?.keptFor).to.deep.equal([777]);
    expect(byName.get('api')?.stopped?.outcome).to.equal('stopped');
    expect(os.listPids().sort()).to.deep.equal([777, pidOf(config, 'db')].sort());
  });

  it('downStack stops everything, ends the leases, and finds a leftover by its marker', async () => {
    const config = await twoServices();
    const os = new FakeOs();
    await upStack(config, { inspector: os, spawn: fakeSpawn(os) });
    const stray = { pid: 45_000, env: { [MARKER_ENV]: `${stackOf(config)}/db/0000000000ff` } };
    os.add(stray);
    const down = await downStack(config, { inspector: os });
    expect(down.clean).to.equal(true);
    expect(os.listPids()).to.deep.equal([]);
    expect(down.services.map((s) => s.service)).to.deep.equal(['api', 'db']);
    expect(down.services[1]?.orphans.map((o) => o.pid)).to.deep.equal([stray.pid]);
    expect(existsSync(servicePaths(config.pidDir, 'db').record)).to.equal(false);
  });
});
