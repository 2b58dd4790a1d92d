import { type AddressInfo, createServer, type Server } from 'node:net';
import { expect } from 'chai';
import sinon from 'sinon';
import type { ProcessInspector } from '../../lib/os/inspector.js';
import type { Listener } from '../../lib/os/proc.js';
import { WATCH_EVERY, watchListen } from '../../lib/probes/listen-watch.js';
import { FakeOs } from '../helpers/fake-os.js';

/** Listener tables and socket counts the test sets, with the reads counted. */
class Tables extends FakeOs {
  rows: Listener[] = [];
  activity = '1|0';
  reads = 0;

  override listeners(): Listener[] {
    this.reads++;
    return this.rows;
  }

  socketActivity(): string {
    return this.activity;
  }

  listen(port: number, inode: number): void {
    this.rows = [...this.rows, { port, address: '127.0.0.1', family: 4, inode, uid: 0 }];
    this.activity = `${this.rows.length + 1}|0`;
  }
}

describe('the listener watch (fake tables and clock)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
  });
  afterEach(() => clock.restore());

  it('wakes a check once per new listener on its port, never for other ports', () => {
    const tables = new Tables();
    const woken: number[] = [];
    const stopA = watchListen(5000, tables, () => woken.push(5000));
    const stopB = watchListen(6000, tables, () => woken.push(6000));
    try {
      clock.tick(WATCH_EVERY);
      expect(woken).to.deep.equal([]);
      tables.listen(5000, 11);
      clock.tick(WATCH_EVERY);
      expect(woken).to.deep.equal([5000]);
      tables.listen(7000, 12); // another port: counts change, nobody is woken
      clock.tick(5 * WATCH_EVERY);
      expect(woken).to.deep.equal([5000]);
      tables.listen(5000, 13); // a second socket on the port (the other family): news again
      clock.tick(WATCH_EVERY);
      expect(woken).to.deep.equal([5000, 5000]);
    } finally {
      stopA?.();
      stopB?.();
    }
  });

  it('reads the tables only when the socket counts change, and every 50 ms', () => {
    const tables = new Tables();
    const stop = watchListen(5000, tables, () => undefined);
    try {
      clock.tick(WATCH_EVERY); // a new watch has seen nothing: one read
      expect(tables.reads).to.equal(1);
      clock.tick(3 * WATCH_EVERY);
      expect(tables.reads, 'counts unchanged').to.equal(1);
      tables.activity = '2|0';
      clock.tick(WATCH_EVERY);
      expect(tables.reads, 'counts changed').to.equal(2);
      clock.tick(50);
      expect(tables.reads, 'the read every 50 ms').to.equal(3);
    } finally {
      stop?.();
    }
    const after = tables.reads;
    clock.tick(200);
    expect(tables.reads, 'no watch left: no timer').to.equal(after);
  });

  it('sees a listener that counts hide (a socket closed as it opened) within 50 ms', () => {
    const tables = new Tables();
    const woken: number[] = [];
    const stop = watchListen(5000, tables, () => woken.push(performance.now()));
    try {
      clock.tick(WATCH_EVERY);
      const before = tables.activity;
      const at = performance.now();
      tables.listen(5000, 21);
      tables.activity = before; // another socket closed in the same tick: the same counts
      clock.tick(50 + WATCH_EVERY);
      expect(woken).to.have.length(1);
      expect((woken[0] as number) - at).to.be.at.most(50 + WATCH_EVERY);
    } finally {
      stop?.();
    }
  });

  it('is off where the listener tables are dear to read (ps/lsof)', () => {
    const portable = { ...new Tables(), backend: 'ps' } as unknown as ProcessInspector;
    expect(watchListen(5000, portable, () => undefined)).to.equal(null);
  });
});

describe('the listener tables read as far as the socket counts say (Linux /proc)', () => {
  it('lists the same listeners as a full read, IPv4 and IPv6, and sees a new one', async function () {
    if (process.platform !== 'linux') this.skip(); // /proc/net exists on Linux only
    const { listenersHintLinux, listenersLinux, socketActivityLinux } = await import(
      '../../lib/os/net-linux.js'
    );
    const listen = (host: string) =>
      new Promise<Server>((resolve) => {
        const server = createServer();
        server.listen(0, host, () => resolve(server));
      });
    const ports = (ls: readonly Listener[]) => ls.map((l) => `${l.address}:${l.port}`).sort();
    const before = socketActivityLinux();
    const v4 = await listen('127.0.0.1');
    const v6 = await listen('::1');
    try {
      expect(socketActivityLinux(), 'two listeners changed the counts').to.not.equal(before);
      const own = [v4, v6].map((s) => (s.address() as AddressInfo).port);
      // Other processes (a test pass beside this one) open and close listeners: compare
      // within a window where two full reads agree, and fail if none comes.
      let compared = false;
      for (let tries = 0; tries < 50 && !compared; tries++) {
        const full = ports(listenersLinux());
        const hint = listenersHintLinux();
        if (JSON.stringify(ports(listenersLinux())) !== JSON.stringify(full)) continue;
        expect(ports(hint)).to.deep.equal(full);
        for (const port of own) expect(hint.map((l) => l.port)).to.include(port);
        compared = true;
      }
      expect(compared, 'a quiet moment to compare in').to.equal(true);
    } finally {
      v4.close();
      v6.close();
    }
  });
});
