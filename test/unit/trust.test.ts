import type { Stats } from 'node:fs';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { assertTrustedPlace, type FileRole, type Place } from '../../lib/config/trust.js';
import { readTrustedFile } from '../../lib/config/trusted-file.js';
import { LaunchError } from '../../lib/errors.js';
import { tempDir } from '../helpers/tmp.js';

const me = process.geteuid?.() ?? 0;
const STRANGER = 54_321;

/** A place: a file (or a link, with `target`) of `uid` with `mode`, in a folder with `folderMode`. */
function place(uid: number, mode: number, folderMode: number, target?: string): Place {
  return {
    path: '/shared/launch.config.mjs',
    stat: { uid, mode } as Stats,
    folder: '/shared',
    folderStat: { mode: folderMode } as Stats,
    ...(target === undefined ? {} : { target }),
  };
}

function verdict(p: Place, role: FileRole): string {
  try {
    assertTrustedPlace(p, role, p.path, '/shared/work', { SUDO_UID: undefined });
    return 'ok';
  } catch (error) {
    if (!(error instanceof LaunchError)) throw error;
    return error.message;
  }
}

describe('config trust: the rules for each place on the way to a config or env file', () => {
  it('accepts your own files anywhere but in a folder everyone may write without the sticky bit', () => {
    expect(verdict(place(me, 0o644, 0o755), 'here')).to.equal('ok');
    expect(verdict(place(me, 0o644, 0o1777), 'above')).to.equal('ok');
    expect(verdict(place(me, 0o644, 0o777), 'named')).to.match(
      /everyone may write .* no sticky bit/,
    );
    expect(verdict(place(me, 0o666, 0o755), 'named')).to.match(/writable by everyone/);
  });

  it("refuses another user's file or link where others could have planted it, by role", () => {
    const sticky = place(STRANGER, 0o644, 0o1777);
    expect(verdict(sticky, 'here')).to.match(/belongs to .* in a folder everyone may write/);
    expect(verdict(sticky, 'named'), 'named with -c: your choice').to.equal('ok');
    const team = place(STRANGER, 0o644, 0o2775);
    expect(verdict(team, 'here'), 'found here in a group folder').to.equal('ok');
    expect(verdict(team, 'above')).to.match(
      /parent folder of \/shared\/work that others may write/,
    );
    expect(verdict(team, 'env')).to.match(/env file .* which others may write/);
    expect(verdict(place(STRANGER, 0o644, 0o755), 'above'), "in that user's own folder").to.equal(
      'ok',
    );
  });

  it('judges a link like a file, whatever mode the link itself has', () => {
    const link = place(STRANGER, 0o777, 0o1777, '/home/x/evil.mjs');
    expect(verdict(link, 'here')).to.match(
      /symbolic link .* \(to \/home\/x\/evil\.mjs\) belongs to/,
    );
    expect(verdict(place(me, 0o777, 0o755, 'real.mjs'), 'here'), 'links are 0777').to.equal('ok');
  });

  it('readTrustedFile returns the real path and the bytes, through a link of yours', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'real.mjs'), 'export default 1;\n');
    symlinkSync('real.mjs', join(dir, 'launch.config.mjs'));
    const read = readTrustedFile('launch.config.mjs', 'here', dir);
    expect(read).to.deep.equal({ real: join(dir, 'real.mjs'), text: 'export default 1;\n' });
  });

  it('readTrustedFile says what is wrong with a missing file, a folder, and a link loop', () => {
    const dir = tempDir();
    symlinkSync('b', join(dir, 'a'));
    symlinkSync('a', join(dir, 'b'));
    const message = (file: string, role: FileRole = 'named') => {
      try {
        readTrustedFile(file, role, dir);
        return 'read';
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(message('nope.mjs')).to.match(/config file .*nope\.mjs not found/);
    expect(message('nope.env', 'env')).to.match(/cannot read env file .*nope\.env \(ENOENT\)/);
    expect(message('.')).to.match(/not a regular file|EISDIR/);
    expect(message('a')).to.match(/ELOOP/);
  });
});
