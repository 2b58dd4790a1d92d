import { linkSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import sinon from 'sinon';
import { acquireLock } from '../../lib/state/lock.js';
import { FakeOs } from '../helpers/fake-os.js';
import { failure } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

const OWNER = 6000;

/** A lock file held by `pid` (as another launcher writes it). */
function heldBy(pid: number): string {
  const path = join(tempDir(), 'api.lock');
  const owner = {
    pid,
    startTime: String(1000 + pid),
    bootId: 'fake-boot',
    pidNamespace: 'pid:[1]',
    nonce: 'feedfacecafebeef',
    service: 'api',
    acquiredAt: new Date(0).toISOString(),
  };
  writeFileSync(path, `${JSON.stringify(owner)}\n`, { mode: 0o600 });
  return path;
}

function ownerPid(path: string): number {
  return (JSON.parse(readFileSync(path, 'utf8')) as { pid: number }).pid;
}

describe('locks (fake clock, fake process table)', () => {
  let clock: sinon.SinonFakeTimers;
  let os: FakeOs;
  beforeEach(() => {
    clock = sinon.useFakeTimers();
    os = new FakeOs([{ pid: process.pid }, { pid: OWNER }]);
  });
  afterEach(() => clock.restore());

  it('waits for a live owner, then fails with E_BUSY naming it at the lock timeout', async () => {
    const path = heldBy(OWNER);
    const waiting = failure(acquireLock(path, 'api', { inspector: os, timeout: 15_000 }));
    await clock.tickAsync(15_100);
    const error = await waiting;
    expect(error.code).to.equal('E_BUSY');
    expect(error.message).to.equal(
      `busy: another launchguard (pid ${OWNER}) is starting or stopping api`,
    );
    expect(ownerPid(path)).to.equal(OWNER);
  });

  it('takes the lock over as soon as its owner dies, judged by identity', async () => {
    const path = heldBy(OWNER);
    const waiting = acquireLock(path, 'api', { inspector: os, timeout: 15_000 });
    await clock.tickAsync(1_000);
    os.remove(OWNER);
    await clock.tickAsync(100);
    const lock = await waiting;
    expect(lock.fresh).to.equal(false);
    expect(ownerPid(path)).to.equal(process.pid);
    lock.release();
  });

  it('gives a dead owner’s lock to exactly one contender', async () => {
    const path = heldBy(OWNER);
    os.remove(OWNER);
    const first = await acquireLock(path, 'api', { inspector: os, timeout: 0 });
    const second = await failure(acquireLock(path, 'api', { inspector: os, timeout: 0 }));
    expect(first.isHeld()).to.equal(true);
    expect(second.code).to.equal('E_BUSY');
    first.release();
  });

  it('never takes a live owner’s lock in the instant it has two names (link, then unlink of the temp)', async () => {
    const path = heldBy(OWNER);
    linkSync(path, `${path}.temp-name`); // as acquireLock's link() leaves it for an instant
    const error = await failure(acquireLock(path, 'api', { inspector: os, timeout: 0 }));
    expect(error.code).to.equal('E_BUSY');
    expect(ownerPid(path)).to.equal(OWNER);
  });

  it('takes a lock whose owner’s PID now belongs to another process (reused)', async () => {
    const path = heldBy(OWNER);
    os.remove(OWNER);
    os.add({ pid: OWNER, startTime: '123' });
    const lock = await acquireLock(path, 'api', { inspector: os, timeout: 0 });
    expect(lock.isHeld()).to.equal(true);
    lock.release();
  });

  it('stops waiting with E_ABORTED when its signal aborts', async () => {
    const abort = new AbortController();
    const waiting = failure(
      acquireLock(heldBy(OWNER), 'api', { inspector: os, signal: abort.signal }),
    );
    await clock.tickAsync(500);
    abort.abort();
    await clock.tickAsync(60);
    expect((await waiting).code).to.equal('E_ABORTED');
  });
});
