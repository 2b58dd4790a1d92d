import { expect } from 'chai';
import { splitCommand } from '../../lib/config/split.js';

describe('splitCommand', () => {
  const cases: [string, string[]][] = [
    ['node server.js', ['node', 'server.js']],
    ['  npm   run  dev ', ['npm', 'run', 'dev']],
    [`node -e 'console.log("a b")'`, ['node', '-e', 'console.log("a b")']],
    [`echo "a \\"quoted\\" word" tail`, ['echo', 'a "quoted" word', 'tail']],
    ['echo a\\ b', ['echo', 'a b']],
    [`echo '' x`, ['echo', '', 'x']],
    ['echo "$HOME"', ['echo', '$HOME']],
    [`echo 'a|b' "c&&d"`, ['echo', 'a|b', 'c&&d']],
  ];
  for (const [input, argv] of cases) {
    it(`splits ${input}`, () => {
      expect(splitCommand(input)).to.deep.equal({ argv });
    });
  }

  it('refuses shell operators outside quotes', () => {
    for (const op of ['a | b', 'a && b', 'a; b', 'a > f', 'a < f', 'a `b`', '(a)']) {
      const result = splitCommand(op);
      expect(result, op)
        .to.have.property('error')
        .that.matches(/shell operator/);
    }
  });

  it('refuses unterminated quotes, a trailing backslash and empty strings', () => {
    expect(splitCommand(`echo 'x`)).to.deep.equal({ error: "has an unterminated ' quote" });
    expect(splitCommand('echo "x')).to.deep.equal({ error: 'has an unterminated " quote' });
    expect(splitCommand('echo \\')).to.deep.equal({ error: 'ends with a lone backslash' });
    expect(splitCommand('   ')).to.deep.equal({ error: 'is empty' });
  });
});
