import { expect } from 'chai';
import { identityOf, selfIdentity } from '../../lib/os/identity.js';
import { randomHex } from '../../lib/state/random.js';
import { FakeOs } from '../helpers/fake-os.js';

describe('nonces and the own identity', () => {
  it('randomHex gives hex of the asked length, never the same twice, across pool refills', () => {
    const seen = new Set<string>();
    // 3,000 x 8 bytes: the 4 kB pool is refilled five times meanwhile.
    for (let i = 0; i < 3000; i++) {
      const hex = randomHex(i % 2 === 0 ? 8 : 6);
      expect(hex).to.match(i % 2 === 0 ? /^[0-9a-f]{16}$/ : /^[0-9a-f]{12}$/);
      seen.add(hex);
    }
    expect(seen.size).to.equal(3000);
  });

  it('selfIdentity reads this process once per inspector, and is what identityOf reads', () => {
    const os = new FakeOs([{ pid: process.pid }]);
    let lookups = 0;
    const lookup = os.lookup.bind(os);
    os.lookup = (pid: number) => {
      lookups++;
      return lookup(pid);
    };
    const first = selfIdentity(os);
    expect(first).to.deep.equal(identityOf(process.pid, os));
    lookups = 0;
    expect(selfIdentity(os)).to.equal(first);
    expect(lookups).to.equal(0);
    // Another inspector (a test's fake, the real table) reads its own.
    expect(selfIdentity(new FakeOs([]))).to.equal(null);
  });
});
