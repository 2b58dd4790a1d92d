import { expect } from 'chai';
import { onPaceChange, pacePending, SLOT, tcpPause } from '../../lib/probes/pace.js';

describe('the pace of TCP checks (pure)', () => {
  it('waits one slot for a single check, landing on the shared clock', () => {
    const release = pacePending();
    try {
      // The last attempt began at 1000.4 ms (a timer a little late): the next is at 1020.
      expect(tcpPause(0, 100, 1000.4, 1001.5)).to.be.closeTo(1020 - 1001.5, 1e-9);
      expect((1001.5 + tcpPause(0, 100, 1000.4, 1001.5)) % SLOT).to.be.closeTo(0, 1e-9);
    } finally {
      release();
    }
  });

  it('shares a budget of 100 connects a second, and backs off after long waits, up to interval', () => {
    const releases = Array.from({ length: 20 }, () => pacePending());
    try {
      expect(tcpPause(0, 1000, 0, 0)).to.equal(200); // 20 checks: every 200 ms each
      expect(tcpPause(0, 100, 0, 0)).to.equal(100); // never beyond the check's interval
    } finally {
      for (const r of releases) r();
    }
    const one = pacePending();
    try {
      expect(tcpPause(10_000, 100, 0, 0)).to.equal(60); // waited 10 s: 10000 / 200 = 50, next slot 60
      expect(tcpPause(60_000, 100, 0, 0)).to.equal(100);
    } finally {
      one();
    }
  });

  it('tells the waiting checks when one ends, so their pauses shrink at once', () => {
    const releases = Array.from({ length: 20 }, () => pacePending());
    const heard: number[] = [];
    const stop = onPaceChange(() => heard.push(tcpPause(0, 1000, 0, 0)));
    try {
      expect(tcpPause(0, 1000, 0, 0)).to.equal(200);
      for (const r of releases.slice(0, 19)) r();
      releases[0]?.(); // a second release of the same check counts once
      expect(heard).to.have.length(19);
      expect(heard.at(-1)).to.equal(SLOT); // one left: back to every slot
    } finally {
      stop();
      for (const r of releases) r();
    }
  });
});
