import { expect } from 'chai';
import { abortedError, isLaunchError, LaunchError } from '../../lib/errors.js';

describe('LaunchError', () => {
  it('is recognised by its brand, also when it comes from another copy of launchguard', () => {
    const error = new LaunchError('E_BUSY', 'busy');
    expect(isLaunchError(error)).to.equal(true);
    expect(isLaunchError(error, 'E_BUSY')).to.equal(true);
    expect(isLaunchError(error, 'E_STATE')).to.equal(false);
    // Another copy's class: a different constructor with the same brand.
    class Copy extends Error {
      readonly code = 'E_STATE';
    }
    Object.defineProperty(Copy.prototype, Symbol.for('launchguard.LaunchError'), { value: true });
    expect(isLaunchError(new Copy('x'), 'E_STATE')).to.equal(true);
    expect(isLaunchError(Object.assign(new Error('x'), { code: 'E_STATE' }))).to.equal(false);
    expect(isLaunchError(null)).to.equal(false);
  });

  it('has its name on the prototype, not as an enumerable field', () => {
    const error = new LaunchError('E_CONFIG', 'bad');
    expect(error.name).to.equal('LaunchError');
    expect(Object.keys(error)).not.to.include('name');
    expect(String(error)).to.match(/^LaunchError: bad/);
  });

  it("carries an abort signal's reason as its cause", () => {
    const ac = new AbortController();
    ac.abort('SIGINT');
    const error = abortedError('api: interrupted', ac.signal, 'api');
    expect(error).to.include({ code: 'E_ABORTED', service: 'api', cause: 'SIGINT' });
  });
});
