import { expect } from 'chai';
import sinon from 'sinon';
import type { ExitInfo } from '../../lib/exit.js';
import type { LogSource } from '../../lib/probes/log-follow.js';
import { type WaitReadyOptions, waitReady } from '../../lib/probes/runner.js';
import { FakeOs } from '../helpers/fake-os.js';
import { failure } from '../helpers/stack.js';

/** A service's output, written by the test: lines appear when it says so. */
class FakeLog implements LogSource {
  #pending: string[] = [];
  readonly #all: string[] = [];
  readonly #listeners = new Set<() => void>();
  reads = 0;

  print(line: string): void {
    this.#pending.push(line);
    this.#all.push(line);
    for (const l of this.#listeners) l();
  }

  read(): string[] {
    this.reads++;
    const lines = this.#pending;
    this.#pending = [];
    return lines;
  }

  tail(n = 20): string[] {
    return this.#all.slice(-n);
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

function options(log: FakeLog, extra: Partial<WaitReadyOptions> = {}): WaitReadyOptions {
  const os = new FakeOs([{ pid: 4000 }]);
  return {
    service: 'api',
    probe: { kind: 'log', pattern: /listening on/, interval: 100 },
    port: null,
    target: {
      service: 'api',
      pid: 4000,
      pgid: 4000,
      instance: '',
      startTime: '5000',
      bootId: 'fake-boot',
      pidNamespace: 'pid:[1]',
    },
    follower: log,
    exited: new Promise<ExitInfo>(() => undefined),
    cwd: '/',
    env: () => ({}),
    timeout: 1000,
    inspector: os,
    logFile: '/x/.pids/api.log',
    ...extra,
  };
}

describe('readiness runner (fake clock, fake output)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });
  afterEach(() => clock.restore());

  it('is ready the moment a matching line arrives, woken by the output, not by its timer', async () => {
    const log = new FakeLog();
    const waiting = waitReady(
      options(log, { probe: { kind: 'log', pattern: 'listening on', interval: 5000 } }),
    );
    await clock.tickAsync(300);
    log.print('api listening on 127.0.0.1:8001');
    await clock.tickAsync(5);
    const ready = await waiting;
    expect(ready.ms).to.be.within(300, 305);
  });

  it("makes a check's environment only for a command: a log check never asks for it", async () => {
    const log = new FakeLog();
    let made = 0;
    const env = () => {
      made++;
      return {};
    };
    const waiting = waitReady(options(log, { env }));
    await clock.tickAsync(50);
    log.print('api listening on 127.0.0.1:8001');
    await clock.tickAsync(5);
    await waiting;
    expect(made).to.equal(0);
  });

  it('backs off from 1 ms to the interval while nothing happens', async () => {
    const log = new FakeLog();
    const waiting = failure(waitReady(options(log)));
    await clock.tickAsync(1000);
    await waiting;
    // 1, 2, 4 ... 64 ms, then every 100 ms: about 15 attempts in a second, not hundreds.
    expect(log.reads).to.be.within(12, 20);
  });

  it('fails at the timeout with E_NOT_READY, the last check and the output tail', async () => {
    const log = new FakeLog();
    const waiting = failure(waitReady(options(log)));
    log.print('starting up');
    await clock.tickAsync(999);
    let settled = false;
    void waiting.then(() => {
      settled = true;
    });
    await clock.tickAsync(0);
    expect(settled, 'not before the timeout').to.equal(false);
    await clock.tickAsync(10);
    const error = await waiting;
    expect(error.code).to.equal('E_NOT_READY');
    expect(error.message).to.equal(
      'api: not ready after 1 s (last check: no log line matched /listening on/)',
    );
    expect(error.details).to.deep.equal(['last 1 line(s) of /x/.pids/api.log:', '  starting up']);
  });

  it('fails at once with E_EXITED, the exit code and the tail, when the service exits first', async () => {
    const log = new FakeLog();
    let exit!: (e: ExitInfo) => void;
    const exited = new Promise<ExitInfo>((resolve) => {
      exit = resolve;
    });
    const waiting = failure(waitReady(options(log, { exited })));
    log.print('Error: cannot connect to the database');
    await clock.tickAsync(50);
    exit({ code: 3, signal: null });
    await clock.tickAsync(1);
    const error = await waiting;
    expect(error.code).to.equal('E_EXITED');
    expect(error.message).to.equal('api: exited with code 3 before it was ready');
    expect(error.details.at(-1)).to.equal('  Error: cannot connect to the database');
  });

  it('stops waiting with E_ABORTED when its signal aborts', async () => {
    const abort = new AbortController();
    const waiting = failure(waitReady(options(new FakeLog(), { signal: abort.signal })));
    await clock.tickAsync(20);
    abort.abort();
    await clock.tickAsync(1);
    expect((await waiting).code).to.equal('E_ABORTED');
  });
});
