import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import sinon from 'sinon';
import { identityOf } from '../../lib/os/identity.js';
import {
  endLeases,
  type LeaseHolder,
  liveLeases,
  removeLease,
  stateListing,
  writeLease,
} from '../../lib/state/lease.js';
import { FakeOs } from '../helpers/fake-os.js';
import { tempDir } from '../helpers/tmp.js';

const STACK = 'app-0123abcd';

function holder(os: FakeOs, pid: number, nonce: string, stack = STACK): LeaseHolder {
  const identity = identityOf(pid, os);
  if (identity === null) throw new Error(`no fake process ${pid}`);
  return { nonce: nonce.padEnd(16, '0'), identity, stack };
}

describe('leases: who holds a service', () => {
  const os = new FakeOs([
    { pid: 1, argv: ['/sbin/init'] },
    { pid: 200, argv: ['node', '/usr/bin/launchguard', 'up'] },
    { pid: 300, argv: ['/usr/bin/node', 'node_modules/.bin/mocha'] },
    { pid: 400, argv: ['sh', '-c', 'sleep 60'] },
  ]);

  it('counts the leases of live launchers of this stack, and removes the rest', () => {
    const dir = tempDir();
    for (const [pid, nonce] of [
      [1, 'a1'],
      [200, 'b2'],
      [300, 'c3'],
      [400, 'd4'],
    ] as const)
      writeLease(dir, holder(os, pid, nonce), 'api');
    const live = liveLeases(dir, 'api', os, { stack: STACK });
    expect(live.map((l) => l.pid).sort()).to.deep.equal([200, 300]);
    expect(readdirSync(dir), 'PID 1 and the shell are not launchers').to.have.length(2);
  });

  it("neither counts nor removes another stack's leases; down ends only this stack's", () => {
    const dir = tempDir();
    writeLease(dir, holder(os, 200, 'e5'), 'api');
    writeLease(dir, holder(os, 300, 'f6', 'other-89abcdef'), 'api');
    expect(liveLeases(dir, 'api', os, { stack: STACK }).map((l) => l.pid)).to.deep.equal([200]);
    expect(endLeases(dir, 'api', os, STACK)).to.deep.equal([200]);
    expect(readdirSync(dir)).to.deep.equal([`api.${'f6'.padEnd(16, '0')}.lease`]);
  });

  it('down ends the leases of holders it does not report (the keeper) without looking at them', () => {
    const dir = tempDir();
    writeLease(dir, holder(os, 200, 'a9'), 'api');
    writeLease(dir, holder(os, 300, 'ba'), 'api');
    const lookup = sinon.spy(os, 'lookup');
    try {
      expect(endLeases(dir, 'api', os, STACK, undefined, new Set([200]))).to.deep.equal([300]);
      expect(lookup.args.map(([pid]) => pid)).to.not.include(200);
    } finally {
      lookup.restore();
    }
    expect(readdirSync(dir), 'both leases ended').to.deep.equal([]);
  });

  it('a holder gives its lease back; a dead holder and an unreadable lease count for nothing', () => {
    const dir = tempDir();
    const h = holder(os, 200, 'a7');
    writeLease(dir, h, 'api');
    removeLease(dir, h, 'api');
    writeFileSync(join(dir, `api.${'b8'.padEnd(16, '0')}.lease`), 'not json', { mode: 0o600 });
    const gone = {
      ...holder(os, 300, 'c9'),
      identity: { ...holder(os, 300, 'c9').identity, pid: 999 },
    };
    writeLease(dir, gone, 'api');
    expect(liveLeases(dir, 'api', os, { stack: STACK, clean: false })).to.deep.equal([]);
    expect(readdirSync(dir), 'status only reads').to.have.length(2);
    liveLeases(dir, 'api', os, { stack: STACK });
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('a shared listing serves a lock taken before it began, and lists again for a later one', () => {
    const dir = tempDir();
    writeLease(dir, holder(os, 200, 'd1'), 'api');
    const listing = stateListing(dir);
    const lockedEarly = performance.now();
    const first = listing.names(lockedEarly);
    expect(first).to.deep.equal([`api.${'d1'.padEnd(16, '0')}.lease`]);
    // A lease written after that listing (under the lock of a service locked later)...
    writeLease(dir, holder(os, 300, 'e2'), 'web');
    const lockedLate = performance.now();
    // ...is not in the listing for a lock taken before it began (none could be written then)...
    expect(listing.names(lockedEarly)).to.equal(first);
    // ...but a lock taken after it began gets a new one, and endLeases ends what it lists.
    const late = listing.names(lockedLate);
    expect(late).to.have.length(2);
    expect(endLeases(dir, 'web', os, STACK, late)).to.deep.equal([300]);
    expect(
      liveLeases(dir, 'api', os, { stack: STACK, names: late }).map((l) => l.pid),
    ).to.deep.equal([200]);
    expect(readdirSync(dir)).to.deep.equal([`api.${'d1'.padEnd(16, '0')}.lease`]);
  });
});
