import { getEventListeners } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import sinon from 'sinon';
import { resolveConfig } from '../../lib/config/resolve.js';
import { delay } from '../../lib/delay.js';
import type { ExitInfo } from '../../lib/exit.js';
import type { BringUpResult } from '../../lib/orchestrate/bring-up.js';
import type { StackEvent } from '../../lib/orchestrate/events.js';
import { restartDelay, supervise } from '../../lib/orchestrate/supervise.js';
import type { ServiceUp } from '../../lib/orchestrate/up.js';
import { systemInspector } from '../../lib/os/inspector.js';
import type { SpawnedService } from '../../lib/process/spawn.js';
import { acquireLock } from '../../lib/state/lock.js';
import type { ServiceRecord } from '../../lib/state/record.js';
import { FakeOs } from '../helpers/fake-os.js';
import { tempDir } from '../helpers/tmp.js';

/** A spawned service the test ends with `exit(...)`. */
function fakeSpawn(pid: number): { spawned: SpawnedService; exit: (e: ExitInfo) => void } {
  let exit!: (e: ExitInfo) => void;
  const done = new Promise<ExitInfo>((resolve) => {
    exit = resolve;
  });
  return { spawned: { pid, exit: done } as unknown as SpawnedService, exit };
}

function record(pid: number): ServiceRecord {
  return { pid, service: 'api', readyAt: 'now' } as unknown as ServiceRecord;
}

describe('restart policy (fake clock, fake starts)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });
  afterEach(() => clock.restore());

  it('backs off 0.5, 1, 2... s up to 15 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map(restartDelay)).to.deep.equal([
      500, 1000, 2000, 4000, 8000, 15_000, 15_000,
    ]);
  });

  it('restarts a crashing service after each back-off, then reports a crash loop', async () => {
    const config = resolveConfig(
      { services: { api: { command: 'node api.js', restart: 'on-failure', maxRestarts: 2 } } },
      '/srv/demo/launch.config.mjs',
    );
    const crashes: ((e: ExitInfo) => void)[] = [];
    const starts: number[] = [];
    const bringUp = sinon.fake(async (): Promise<BringUpResult> => {
      starts.push(Date.now());
      const { spawned, exit } = fakeSpawn(100 + starts.length);
      crashes.push(exit);
      return {
        outcome: { kind: 'started', spawned },
        record: record(spawned.pid),
        ready: { ms: 1, attempts: 1 },
      } as unknown as BringUpResult;
    });
    const first = fakeSpawn(100);
    crashes.push(first.exit);
    const events: StackEvent[] = [];
    const up: ServiceUp = {
      name: 'api',
      outcome: 'started',
      record: record(100),
      readyMs: 1,
      spawned: first.spawned,
    };
    const watching = supervise(config, [up], {
      signal: new AbortController().signal,
      inspector: new FakeOs(),
      bringUp,
      onEvent: (e) => events.push(e),
    });
    crashes[0]?.({ code: 1, signal: null });
    await clock.tickAsync(499);
    expect(bringUp.callCount, 'not before 500 ms').to.equal(0);
    await clock.tickAsync(1);
    expect(bringUp.callCount).to.equal(1);
    crashes[1]?.({ code: 1, signal: null });
    await clock.tickAsync(1000);
    expect(bringUp.callCount).to.equal(2);
    crashes[2]?.({ code: null, signal: 'SIGSEGV' });
    await clock.tickAsync(0);
    expect(await watching, 'failed for good').to.equal(true);
    expect(starts).to.deep.equal([500, 1500]);
    expect(events.map((e) => e.type)).to.deep.equal([
      'restarting',
      'restarted',
      'restarting',
      'restarted',
      'crash-loop',
    ]);
    expect(events.at(-1)).to.deep.include({ restarts: 2 });
  });

  it('forgives crashes of instances that lived minUptime: six crashes 12 s apart are no crash loop', async () => {
    const config = resolveConfig(
      {
        services: {
          api: {
            command: 'node api.js',
            restart: 'on-failure',
            maxRestarts: 2,
            minUptime: 10_000,
          },
        },
      },
      '/srv/demo/launch.config.mjs',
    );
    const crashes: ((e: ExitInfo) => void)[] = [];
    const bringUp = sinon.fake(async (): Promise<BringUpResult> => {
      const { spawned, exit } = fakeSpawn(300 + crashes.length);
      crashes.push(exit);
      return {
        outcome: { kind: 'started', spawned },
        record: record(spawned.pid),
        ready: { ms: 1, attempts: 1 },
      } as unknown as BringUpResult;
    });
    const first = fakeSpawn(300);
    crashes.push(first.exit);
    const events: StackEvent[] = [];
    const stop = new AbortController();
    const watching = supervise(
      config,
      [
        {
          name: 'api',
          outcome: 'started',
          record: record(300),
          readyMs: 1,
          spawned: first.spawned,
        },
      ],
      { signal: stop.signal, inspector: new FakeOs(), bringUp, onEvent: (e) => events.push(e) },
    );
    for (let i = 0; i < 6; i++) {
      await clock.tickAsync(12_000);
      crashes[i]?.({ code: 1, signal: null });
      await clock.tickAsync(600); // the first back-off: each restart counts as the first in a row
    }
    expect(bringUp.callCount, 'restarted every time').to.equal(6);
    expect(events.filter((e) => e.type === 'crash-loop')).to.deep.equal([]);
    expect(
      events.filter((e) => e.type === 'restarting').map((e) => (e as { attempt: number }).attempt),
    ).to.deep.equal([1, 1, 1, 1, 1, 1]);
    stop.abort();
    expect(await watching).to.equal(false);
  });

  it('leaves a service alone whose policy does not ask for a restart', async () => {
    const config = resolveConfig(
      { services: { api: { command: 'node api.js', restart: 'on-failure' } } },
      '/srv/demo/launch.config.mjs',
    );
    const bringUp = sinon.fake.rejects(new Error('must not restart'));
    const { spawned, exit } = fakeSpawn(200);
    const events: StackEvent[] = [];
    const watching = supervise(
      config,
      [{ name: 'api', outcome: 'started', record: record(200), readyMs: 1, spawned }],
      {
        signal: new AbortController().signal,
        inspector: new FakeOs(),
        bringUp,
        onEvent: (e) => events.push(e),
      },
    );
    exit({ code: 0, signal: null });
    expect(await watching).to.equal(false);
    expect(bringUp.callCount).to.equal(0);
    expect(events).to.deep.equal([
      { type: 'exited', service: 'api', exit: { code: 0, signal: null } },
    ]);
  });

  it('watches 20 services with one listener on the stop signal, none left after it (no MaxListeners warning)', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `s${i}`);
    const config = resolveConfig(
      { services: Object.fromEntries(names.map((n) => [n, { command: 'node s.js' }])) },
      '/srv/demo/launch.config.mjs',
    );
    const ups: ServiceUp[] = names.map((name, i) => ({
      name,
      outcome: 'started',
      record: record(300 + i),
      readyMs: 1,
      spawned: fakeSpawn(300 + i).spawned,
    }));
    const stop = new AbortController();
    const watching = supervise(config, ups, {
      signal: stop.signal,
      inspector: new FakeOs(),
      bringUp: sinon.fake.rejects(new Error('must not restart')),
    });
    await clock.tickAsync(1);
    expect(getEventListeners(stop.signal, 'abort')).to.have.length.at.most(1);
    stop.abort();
    expect(await watching).to.equal(false);
    expect(getEventListeners(stop.signal, 'abort')).to.have.length(0);
  });
});

describe('restart policy and other launchers (real lock, real timers)', () => {
  it('Ctrl-C while it waits for a launcher that holds the service ends the wait at once', async () => {
    const dir = tempDir();
    const config = resolveConfig(
      { services: { api: { command: 'node api.js', restart: 'always' } } },
      join(dir, 'launch.config.mjs'),
    );
    mkdirSync(config.pidDir, { mode: 0o700 });
    const inspector = systemInspector();
    // Another launcher (here: this process) is busy with the service.
    const held = await acquireLock(join(config.pidDir, 'api.lock'), 'api', { inspector });
    const { spawned, exit } = fakeSpawn(400);
    const events: StackEvent[] = [];
    const stop = new AbortController();
    try {
      const watching = supervise(
        config,
        [{ name: 'api', outcome: 'started', record: record(400), readyMs: 1, spawned }],
        {
          signal: stop.signal,
          inspector,
          bringUp: sinon.fake.rejects(new Error('must not restart')),
          onEvent: (e) => events.push(e),
        },
      );
      exit({ code: 0, signal: null });
      await delay(100); // it now waits for the lock, to see whether the service was replaced
      const t0 = performance.now();
      stop.abort();
      expect(await watching).to.equal(false);
      expect(performance.now() - t0, 'ms from Ctrl-C to the end of the wait').to.be.below(1000);
      expect(events, "an exit seen while stopping is the stop's business").to.deep.equal([]);
    } finally {
      held.release();
    }
  });
});
