import { expect } from 'chai';
import { encodePorts, portOf, portsOf } from '../../lib/state/record.js';

describe('record ports (name=port pairs)', () => {
  it('round-trips every port, in order', () => {
    const ports = { api: 8001, 'my-db.v2': 5432, web_1: 3000 };
    const text = encodePorts(ports);
    expect(text).to.equal('api=8001,my-db.v2=5432,web_1=3000');
    expect(portsOf({ ports: text })).to.deep.equal(ports);
    expect(encodePorts({})).to.equal('');
    expect(portsOf({ ports: '' })).to.deep.equal({});
  });

  it("finds one service's port without mistaking a name for another's prefix or suffix", () => {
    const record = { ports: 's11=4011,s1=4001,xs1=4999,s1x=4888' };
    expect(portOf(record, 's1')).to.equal(4001);
    expect(portOf(record, 's11')).to.equal(4011);
    expect(portOf(record, 'xs1')).to.equal(4999);
    expect(portOf(record, 's')).to.equal(undefined);
    expect(portOf({ ports: '' }, 's1')).to.equal(undefined);
  });

  it('leaves out what is not a name=port pair (a record written by hand)', () => {
    const record = { ports: 'api=8001,=9,web,db=0,cache=65536,q=12x,ok=1,x=-5' };
    expect(portsOf(record)).to.deep.equal({ api: 8001, ok: 1 });
    expect(portOf(record, 'db')).to.equal(undefined);
    expect(portOf(record, 'cache')).to.equal(undefined);
    expect(portOf(record, 'q')).to.equal(undefined);
    expect(portOf(record, 'web')).to.equal(undefined);
  });
});
