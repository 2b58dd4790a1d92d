import { expect } from 'chai';
import { resolveWatch, watchedFile } from '../../lib/config/watch.js';

describe('watch mode: which files count', () => {
  const cwd = '/srv/app';
  const counts = (value: Parameters<typeof resolveWatch>[0], file: string) => {
    const watch = resolveWatch(value, cwd, '/srv/app/.pids');
    if (watch === null) throw new Error('no watch');
    return watchedFile(watch, cwd, `${cwd}/${file}`);
  };

  it('a plain path counts for itself and everything below it', () => {
    expect(counts(['src'], 'src/a.ts')).to.equal(true);
    expect(counts(['src'], 'src/deep/b.ts')).to.equal(true);
    expect(counts(['src'], 'srcx/a.ts')).to.equal(false);
    expect(counts(['package.json'], 'package.json')).to.equal(true);
    expect(counts(['.'], 'src/a.ts'), '. is everything').to.equal(true);
    expect(counts(['./src'], 'src/a.ts')).to.equal(true);
  });

  it('globs: * within a folder, ** across folders, ? one character', () => {
    expect(counts(['config/*.json'], 'config/a.json')).to.equal(true);
    expect(counts(['config/*.json'], 'config/x/a.json')).to.equal(false);
    expect(counts(['src/**/*.ts'], 'src/a/b/c.ts')).to.equal(true);
    expect(counts(['src/**/*.ts'], 'src/c.ts')).to.equal(true);
    expect(counts(['v?.txt'], 'v1.txt')).to.equal(true);
  });

  it('node_modules, .git, the state folder and ignore never count', () => {
    expect(counts(['.'], 'node_modules/x/index.js')).to.equal(false);
    expect(counts(['src'], 'src/node_modules/x.js')).to.equal(false);
    expect(counts(['.'], '.git/HEAD')).to.equal(false);
    expect(counts(['.'], '.pids/api.log')).to.equal(false);
    expect(counts({ paths: ['src'], ignore: ['src/gen/**'] }, 'src/gen/a.ts')).to.equal(false);
    expect(counts({ paths: ['src'], ignore: ['src/gen/**'] }, 'src/a.ts')).to.equal(true);
  });
});
