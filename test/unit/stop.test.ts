import { expect } from 'chai';
import sinon from 'sinon';
import { type StopTarget, stopInstance, stopWave } from '../../lib/process/stop.js';
import {
  candidatesOf,
  findMarked,
  leftoversOf,
  type ProcessTable,
  processTable,
} from '../../lib/process/sweep.js';
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

/** The marker of service `s<pid>`: one per leader in the wave tests. */
const markerOf = (pid: number) => `demo-0123abcd/s${pid}/0123456789ab`;

/** Stops of `leaders` begun together in one wave over `table`; signals sent are logged. */
function waveStops(
  os: FakeOs,
  table: ProcessTable,
  leaders: readonly FakeProcess[],
  log: string[] = [],
): Promise<Awaited<ReturnType<typeof stopInstance>>[]> {
  const member = stopWave(leaders.length);
  return Promise.all(
    leaders.map((leader) =>
      stopInstance(targetOf(leader, { instance: markerOf(leader.pid) }), {
        inspector: os,
        table,
        wave: member(),
        kill: (pid, signal) => {
          if (signal !== 0) log.push(`signal ${pid}`);
          os.kill(pid, signal);
        },
      }),
    ),
  );
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

  it('concurrent stops of one wave send every signal before any of them looks for an exit', async () => {
    const leaders = [3000, 3100, 3200].map((pid) => ({
      pid,
      unreaped: true, // an exit at once leaves a zombie: the look that costs a /proc scan
      env: { LAUNCHGUARD_INSTANCE: markerOf(pid) },
    }));
    const os = new FakeOs(leaders);
    const log: string[] = [];
    const exists = os.exists.bind(os);
    os.exists = (pid: number) => {
      log.push(`look ${pid}`);
      return exists(pid);
    };
    const stops = waveStops(os, processTable(os), leaders, log);
    await clock.tickAsync(50);
    const reports = await stops;
    expect(reports.map((r) => r.outcome)).to.deep.equal(['stopped', 'stopped', 'stopped']);
    expect(log.slice(0, 3)).to.have.members(['signal -3000', 'signal -3100', 'signal -3200']);
    expect(log.slice(3)).to.include('look 3000');
  });

  it('a wave counts every member before its first signal, then signals in one run', async () => {
    const leaders = [3300, 3400, 3500].map((pid) => ({
      pid,
      env: { LAUNCHGUARD_INSTANCE: markerOf(pid) },
    }));
    const os = new FakeOs(leaders);
    const log: string[] = [];
    const table = processTable(os);
    const group = table.group;
    // A census reads its group from the table; a look for an exit does too, after the signals.
    table.group = (pgid, since) => {
      log.push(`count ${pgid}`);
      return group(pgid, since);
    };
    const stops = waveStops(os, table, leaders, log);
    await clock.tickAsync(50);
    await stops;
    expect(log.slice(0, 3)).to.have.members(['count 3300', 'count 3400', 'count 3500']);
    expect(log.slice(3, 6)).to.have.members(['signal -3300', 'signal -3400', 'signal -3500']);
  });

  it("a wave member's group is signalled whole only if its leader still leads it at the send", async () => {
    const a = { pid: 3600, env: { LAUNCHGUARD_INSTANCE: markerOf(3600) } };
    const b = { pid: 3700, env: { LAUNCHGUARD_INSTANCE: markerOf(3700) } };
    const bChild = { pid: 3701, pgid: 3700, env: { LAUNCHGUARD_INSTANCE: markerOf(3700) } };
    const os = new FakeOs([a, b, bChild]);
    const table = processTable(os);
    const group = table.group;
    let counts = 0;
    table.group = (pgid, since) => {
      const rows = group(pgid, since);
      // Once both have counted, before the wave sends: b's leader exits, a stranger takes its PID.
      if (++counts === 2) {
        os.remove(3700);
        os.add({ pid: 3700, startTime: '424242' });
      }
      return rows;
    };
    const stops = waveStops(os, table, [a, b]);
    // b's stop then counts its marked processes alone (every 100 ms), until they are gone.
    await clock.tickAsync(250);
    await stops;
    expect(os.signals.filter(([, sig]) => sig === 'SIGTERM')).to.have.deep.members([
      [-3600, 'SIGTERM'],
      [3701, 'SIGTERM'],
    ]);
    expect(os.exists(3700), 'the stranger with the old PID').to.equal(true);
  });

  it('a wave runs the sends of one turn together; one that throws fails only its own stop', async () => {
    const member = stopWave(2);
    const [a, b] = [member(), member()];
    const log: string[] = [];
    const sentA = a.signal({ send: () => log.push('a sent') });
    log.push('a counted');
    const sentB = b.signal({
      send: () => {
        throw new Error('EPERM');
      },
    });
    log.push('b counted');
    await clock.tickAsync(0);
    expect(log).to.deep.equal(['a counted', 'b counted', 'a sent']);
    await sentA;
    let failure: unknown;
    await sentB.catch((e: unknown) => {
      failure = e;
    });
    expect(String(failure)).to.equal('Error: EPERM');
  });

  it("a wave's sends run after every check of their batch, and before any look after them", async () => {
    const member = stopWave(3);
    const log: string[] = [];
    const sent = ['a', 'b', 'c'].map((name) =>
      member().signal({
        verify: () => log.push(`check ${name}`),
        send: () => log.push(`send ${name}`),
        after: () => log.push(`after ${name}`),
      }),
    );
    await clock.tickAsync(0);
    await Promise.all(sent);
    expect(log).to.deep.equal([
      'check a',
      'check b',
      'check c',
      'send a',
      'send b',
      'send c',
      'after a',
      'after b',
      'after c',
    ]);
  });

  it('a wave of more than 32 sends checks each chunk of 32 right before its sends', async () => {
    const member = stopWave(40);
    const log: string[] = [];
    const sent = Array.from({ length: 40 }, (_, i) =>
      member().signal({ verify: () => log.push(`check ${i}`), send: () => log.push(`send ${i}`) }),
    );
    await clock.tickAsync(0);
    await Promise.all(sent);
    // The leader checked first waits for its signal at most the other 31 checks.
    expect(log.indexOf('check 32')).to.be.greaterThan(log.indexOf('send 31'));
    expect(log.indexOf('send 0')).to.equal(32);
    expect(log.filter((l) => l.startsWith('send'))).to.have.length(40);
  });

  it('a wave member whose check throws sends nothing, and fails only its own stop', async () => {
    const member = stopWave(2);
    const log: string[] = [];
    const a = member().signal({
      verify: () => {
        throw new Error('EIO');
      },
      send: () => log.push('send a'),
    });
    const b = member().signal({ send: () => log.push('send b') });
    await clock.tickAsync(0);
    await b;
    expect(String(await a.catch((e: unknown) => e))).to.equal('Error: EIO');
    expect(log).to.deep.equal(['send b']);
  });

  it('the shared table is paced by the CPU its reads take, not by the clock', () => {
    const os = new FakeOs([{ pid: 4100 }]);
    let reads = 0;
    const list = os.listPids.bind(os);
    os.listPids = () => {
      reads++;
      // A read that took 50 ms on the clock and next to no CPU: a starved process.
      clock.tick(50);
      return list();
    };
    const table = processTable(os, 20);
    table.rows();
    clock.tick(25);
    table.rows();
    expect(reads, 'read again once its 20 ms were over').to.equal(2);
    table.rows();
    expect(reads, 'not before').to.equal(2);
  });

  it('after its group signal, a leader that leads its session is not looked up again; another is', async () => {
    const lone = { pid: 4200, env: { LAUNCHGUARD_INSTANCE: markerOf(4200) } };
    const joined = { pid: 4300, sid: 4299, env: { LAUNCHGUARD_INSTANCE: markerOf(4300) } };
    const os = new FakeOs([lone, joined]);
    const log: string[] = [];
    const lookup = os.lookup.bind(os);
    os.lookup = (pid: number) => {
      log.push(`look ${pid}`);
      return lookup(pid);
    };
    const stops = waveStops(os, processTable(os), [lone, joined], log);
    await clock.tickAsync(0);
    const after = log.slice(log.lastIndexOf('signal -4300') + 1);
    // A session leader cannot leave its group (setpgid fails): the group signal reached it.
    expect(after).not.to.include('look 4200');
    // One that is not may have moved to another group of its session since: looked up.
    expect(after).to.include('look 4300');
    await clock.tickAsync(500);
    expect((await stops).map((r) => r.outcome)).to.deep.equal(['stopped', 'stopped']);
  });

  it('a wave holds a stop back at most 100 ms for a member that never gets to its signal', async () => {
    const member = stopWave(2);
    const ready = member();
    member(); // blocked elsewhere (a lock another launcher holds)
    let at: number | undefined;
    ready.arrive();
    ready.arrive(); // once counts once: the wave is not open
    void ready.passed().then((t) => {
      at = t;
    });
    await clock.tickAsync(99);
    expect(at).to.equal(undefined);
    await clock.tickAsync(1);
    expect(at).to.equal(performance.now());
  });

  it('a wave opens when its last member arrives, for every member, at that moment', async () => {
    const member = stopWave(2);
    const [a, b] = [member(), member()];
    a.arrive();
    const first = a.passed();
    await clock.tickAsync(30);
    b.arrive();
    expect(await first).to.equal(await b.passed());
    expect(await first).to.equal(performance.now());
  });

  it('with a shared table, a group member that exited after forking keeps the stop waiting', async () => {
    // The leader exits at once (a zombie: the init reaps slowly); a member ignores SIGTERM,
    // then forks a child into the group and exits. The table the stops share listed the
    // member; an exit seen since says nothing about what it forked: the group is read again.
    const leader = { pid: 4000, unreaped: true, env: { LAUNCHGUARD_INSTANCE: MARKER } };
    const env = { LAUNCHGUARD_INSTANCE: MARKER };
    const ignores: NodeJS.Signals[] = ['SIGTERM'];
    const member = { pid: 4001, pgid: 4000, env, ignores };
    const os = new FakeOs([leader, member]);
    const table = processTable(os);
    const stopping = stopInstance(targetOf(leader), {
      inspector: os,
      kill: os.kill,
      table,
      timeout: 1000,
    });
    await clock.tickAsync(2);
    os.remove(4001);
    os.add({ pid: 4002, pgid: 4000, env, ignores }); // a fork inherits the marker
    await clock.tickAsync(500);
    expect(os.exists(4002), 'still waited for after 500 ms').to.equal(true);
    await clock.tickAsync(1000);
    const report = await stopping;
    expect(os.signals).to.deep.equal([
      [-4000, 'SIGTERM'],
      [-4000, 'SIGKILL'],
    ]);
    expect(os.exists(4002)).to.equal(false);
    expect(report).to.include({ outcome: 'stopped', forced: true });
  });
});

describe('leftovers from one scan of the table (fake process table)', () => {
  const stack = 'demo-0123abcd';
  const marked = (pid: number, service: string) => ({
    pid,
    env: { LAUNCHGUARD_INSTANCE: `${stack}/${service}/0123456789ab` },
  });

  it('gives each service its own candidates, and only those that still run', () => {
    const os = new FakeOs([
      marked(5001, 's1'),
      marked(5002, 's11'),
      marked(5003, 's1'),
      { pid: 5004 },
    ]);
    const candidates = findMarked({ stack }, os);
    expect(candidatesOf(candidates, 's1').map((m) => m.info.pid)).to.deep.equal([5001, 5003]);
    expect(candidatesOf(candidates, 's11').map((m) => m.info.pid)).to.deep.equal([5002]);
    expect(candidatesOf(candidates, 's2')).to.deep.equal([]);
    os.remove(5003);
    const left = leftoversOf({ stack, service: 's1' }, os, candidates);
    expect(left.map((m) => m.info.pid)).to.deep.equal([5001]);
  });
});
