import { expect } from 'chai';
import { closest, didYouMean, editDistance } from '../../lib/config/suggest.js';

describe('suggestions', () => {
  it('measures edit distance', () => {
    expect(editDistance('comand', 'command')).to.equal(1);
    expect(editDistance('', 'abc')).to.equal(3);
    expect(editDistance('same', 'same')).to.equal(0);
  });

  it('suggests a close match and nothing for a far one', () => {
    expect(closest('comand', ['command', 'cwd', 'env'])).to.equal('command');
    expect(closest('stauts', ['up', 'status'])).to.equal('status');
    expect(closest('xyz', ['command', 'cwd'])).to.equal(undefined);
    expect(didYouMean('readytimeout', ['readyTimeout'])).to.equal(
      " (did you mean 'readyTimeout'?)",
    );
    expect(didYouMean('zzzz', ['readyTimeout'])).to.equal('');
  });
});
