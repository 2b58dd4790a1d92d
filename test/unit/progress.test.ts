import { expect } from 'chai';
import { createColors } from '../../lib/report/color.js';
import { Progress } from '../../lib/report/progress.js';

/** A terminal of `columns` that records what was written. */
function terminal(columns: number) {
  const written: string[] = [];
  const out = {
    isTTY: true,
    columns,
    write: (text: string) => {
      written.push(text);
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return { out, written };
}

describe('progress: the live line', () => {
  it('is cut to the width of the terminal, so it never wraps into stale rows', () => {
    for (const colored of [false, true]) {
      const { out, written } = terminal(80);
      const progress = new Progress(out, createColors(colored), true);
      for (let i = 0; i < 12; i++)
        progress.event({ type: 'starting', service: `a-rather-long-service-name-${i}` });
      progress.line('some output');
      progress.done();
      const live = written.filter((w) => !w.endsWith('\n') && !w.startsWith('\r'));
      expect(live.length, 'a live line was drawn').to.be.above(0);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes
      const visible = (text: string) => [...text.replace(/\u001b\[[0-9;]*m/g, '')].length;
      for (const line of live) expect(visible(line), line).to.be.below(80);
    }
  });
});
