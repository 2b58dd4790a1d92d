import { expect } from 'chai';
import { parseDuration } from '../../lib/format.js';

describe('unit: durations typed by users (--timeout, LAUNCHGUARD_*_TIMEOUT)', () => {
  it('reads plain milliseconds and numbers with a unit', () => {
    const cases: [string, number][] = [
      ['600', 600],
      ['500ms', 500],
      ['0.6s', 600],
      ['30s', 30_000],
      ['2m', 120_000],
      ['1.5min', 90_000],
      [' 10 s ', 10_000],
    ];
    for (const [raw, ms] of cases) expect(parseDuration(raw), raw).to.equal(ms);
  });

  it('refuses zero, negatives, unknown units and words', () => {
    for (const raw of ['0', '0s', '-5', '10 sec', '1h', 'abc', '', '1e3', '.5s'])
      expect(parseDuration(raw), raw).to.equal(null);
  });
});
