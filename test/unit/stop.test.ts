import { expect } from 'chai';
import sinon from 'sinon';
import { type StopTarget, stopInstance } from '../../lib/process/stop.js';
import { FakeOs, type FakeProcess } from '../helpers/fake-os.js';

const ME = process.geteuid?.() ?? 0;
const OTHER = ME + 4242;
const MARKER = 'demo-0123abcd/api/0123456789ab';

/** The target of a recorded instance whose leader is `p`. */
function targetOf(p: FakeProcess, fields: Partial<StopTarget> = {}): StopTarget {
  return {
    service: 'api',
    pid: p.pid,
    pgid: p.pid,
    instance: MARKER,
    startTime: p.startTime ?? String(1000 + p.pid),
    bootId: 'fake-boot',
    pidNamespace: 'pid:[1]',
    recorded: true,
    ...fields,
  };
}

describe('stop ladder decisions (fake process table)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });
  afterEach(() => clock.restore());

  it('signals a verified leader’s group as a whole', async () => {
    const leader = { pid: 500, env: { LAUNCHGUARD_INSTANCE: MARKER } };
    const os = new FakeOs([leader, { pid: 501, pgid: 500, env: { LAUNCHGUARD_INSTANCE: MARKER } }]);
    const report = await stopInstance(targetOf(leader), { inspector: os, kill: os.kill });
    expect(os.signals).to.deep.equal([[-500, 'SIGTERM']]);
    expect(report).to.include({ outcome: 'stopped', forced: false });
  });

  it('a leader that exited is stopped at once, though a slow init has not reaped it yet (zombie)', async () => {
    const leader = { pid: 550, unreaped: true, env: { LAUNCHGUARD_INSTANCE: MARKER } };
    const os = new FakeOs([leader]);
    let report: Awaited<ReturnType<typeof stopInstance>> | undefined;
    void stopInstance(targetOf(leader), { inspector: os, kill: os.kill }).then((r) => {
      report = r;
    });
    await clock.tickAsync(20);
    expect(os.lookup(550)).to.deep.nested.include({ 'info.state': 'Z' });
    expect(report, 'settled within 20 ms, not at the next 100 ms census').to.include({
      outcome: 'stopped',
    });
  });

  it('never signals the group a forged record names: only the verified process itself', async () => {
    const decoy = { pid: 600 };
    const victims = [{ pid: 700 }, { pid: 701, pgid: 700 }];
    const os = new FakeOs([decoy, ...victims]);
    const report = await stopInstance(targetOf(decoy, { pgid: 700 }), {
      inspector: os,
      kill: os.kill,
    });
    expect(os.signals).to.deep.equal([[600, 'SIGTERM']]);
    expect(os.listPids()).to.have.members([700, 701]);
    expect(report.outcome).to.equal('stopped');
  });

  it('a leader that left its group is signalled alone, its old group is not', async () => {
    const leader = { pid: 800, pgid: 900 }; // recorded as leading group 800, now in 900
    const os = new FakeOs([leader, { pid: 900 }]);
    await stopInstance(targetOf(leader), { inspector: os, kill: os.kill });
    expect(os.signals).to.deep.equal([[800, 'SIGTERM']]);
  });

  it("leaves another user's process alone unless it is a recorded leader", async () => {
    const theirs = { pid: 1000, uid: OTHER };
    const os = new FakeOs([theirs]);
    const scanned = await stopInstance(targetOf(theirs, { recorded: false, instance: '' }), {
      inspector: os,
      kill: os.kill,
    });
    expect(os.signals).to.deep.equal([]);
    expect(scanned.outcome).to.equal('refused');
    expect(scanned.refused.map((u) => u.pid)).to.deep.equal([1000]);
    const recorded = await stopInstance(targetOf(theirs), { inspector: os, kill: os.kill });
    expect(os.signals).to.deep.equal([[-1000, 'SIGTERM']]);
    expect(recorded.outcome).to.equal('stopped');
  });

  it("reports, never signals, another user's process carrying the marker", async () => {
    const leader = { pid: 1100, env: { LAUNCHGUARD_INSTANCE: MARKER } };
    const impostor = { pid: 1200, uid: OTHER, env: { LAUNCHGUARD_INSTANCE: MARKER } };
    const os = new FakeOs([leader, impostor]);
    const report = await stopInstance(targetOf(leader), { inspector: os, kill: os.kill });
    expect(os.signals).to.deep.equal([[-1100, 'SIGTERM']]);
    expect(report.refused.map((u) => u.pid)).to.deep.equal([1200]);
    expect(os.listPids()).to.deep.equal([1200]);
  });

  it('sends SIGKILL to the group after the stop timeout, and says it was forced', async () => {
    const stubborn = { pid: 1300, ignores: ['SIGTERM'] as NodeJS.Signals[] };
    const os = new FakeOs([stubborn]);
    const stopping = stopInstance(targetOf(stubborn), {
      inspector: os,
      kill: os.kill,
      timeout: 5000,
    });
    await clock.tickAsync(4900);
    expect(os.signals).to.deep.equal([[-1300, 'SIGTERM']]);
    await clock.tickAsync(200);
    const report = await stopping;
    expect(os.signals).to.deep.equal([
      [-1300, 'SIGTERM'],
      [-1300, 'SIGKILL'],
    ]);
    expect(report).to.include({ outcome: 'stopped', forced: true });
  });

  it('does nothing for an identity that no longer matches (a reused PID)', async () => {
    const reused = { pid: 1400, startTime: '99999' };
    const os = new FakeOs([reused]);
    const report = await stopInstance(targetOf(reused, { startTime: '1' }), {
      inspector: os,
      kill: os.kill,
    });
    expect(os.signals).to.deep.equal([]);
    expect(report.outcome).to.equal('gone');
  });
});
