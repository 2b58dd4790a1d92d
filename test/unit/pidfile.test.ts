import { expect } from 'chai';
import { parseProcStat } from '../../lib/os/proc.js';
import { formatPid, parsePidText } from '../../lib/state/pidfile.js';

describe('PID file parsing', () => {
  const max = 4_194_304;

  it('accepts a decimal PID with a trailing newline or spaces around it', () => {
    expect(parsePidText('1234\n', max)).to.deep.equal({ pid: 1234 });
    expect(parsePidText('1234', max)).to.deep.equal({ pid: 1234 });
    expect(parsePidText('  1234  \n', max)).to.deep.equal({ pid: 1234 });
    expect(formatPid(1234)).to.equal('1234\n');
  });

  const bad: [string, string, RegExp][] = [
    ['empty', '', /empty/],
    ['zero', '0\n', /never a service/],
    ['one', '1\n', /never a service/],
    ['minus one', '-1\n', /not a decimal PID/],
    ['negative', '-1234\n', /not a decimal PID/],
    ['12abc', '12abc\n', /not a decimal PID/],
    ['12.5', '12.5\n', /not a decimal PID/],
    ['hex', '0x1A\n', /not a decimal PID/],
    ['NUL bytes', '12\u000034\n', /NUL/],
    ['two lines', '12\n34\n', /more than one line/],
    ['CRLF', '1234\r\n', /carriage return/],
    ['BOM', '\ufeff1234\n', /byte order mark/],
    ['above pid_max', '4194305\n', /above the system's maximum/],
    ['huge', '99999999999999999999\n', /out of range/],
    ['only spaces', '   \n', /not a decimal PID/],
  ];
  for (const [name, text, reason] of bad) {
    it(`refuses ${name}`, () => {
      const result = parsePidText(text, max);
      expect(result).to.have.property('error').that.matches(reason);
    });
  }
});

describe('/proc/PID/stat parsing', () => {
  it('reads the fields after the last parenthesis, whatever comm contains', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = 'S';
    fields[1] = '10'; // ppid
    fields[2] = '20'; // pgid
    fields[3] = '30'; // sid
    fields[19] = '987654'; // starttime (field 22)
    const text = `42 (evil) (name) S 1 2) ${fields.join(' ')}\n`;
    expect(parseProcStat(42, text)).to.deep.equal({
      pid: 42,
      state: 'S',
      ppid: 10,
      pgid: 20,
      sid: 30,
      startTime: '987654',
      uid: null,
      comm: 'evil) (name) S 1 2',
    });
  });

  it('returns null for malformed input', () => {
    expect(parseProcStat(1, 'garbage')).to.equal(null);
    expect(parseProcStat(1, '1 (x) S 1 2')).to.equal(null);
  });
});
