import { join } from 'node:path';
import { expect } from 'chai';
import { fillDisk, smallDisk } from '../helpers/attacks.js';
import { hasStackTrace, runCli } from '../helpers/cli.js';
import { markedPids } from '../helpers/e2e.js';
import { makeStack, nodeFixture } from '../helpers/stack.js';
import { requireRoot } from '../helpers/users.js';

describe('a full disk never stops a stop', () => {
  it('as root: down stops the services on a full state filesystem; up -d says ENOSPC', async function () {
    requireRoot(this);
    const sleeper = { command: nodeFixture('sleep.mjs'), stopTimeout: 1000 };
    const config = await makeStack({ api: sleeper, web: sleeper }, { pidDir: 'state/.pids' });
    const mount = join(config.root, 'state');
    const unmount = smallDisk(mount);
    try {
      const up = await runCli(['up', '-d'], { cwd: config.root });
      expect(up.code, up.stderr).to.equal(0);
      expect(markedPids(config)).to.have.length(2);
      fillDisk(join(mount, 'filler'));

      const status = await runCli(['status'], { cwd: config.root });
      expect(status.code, status.stderr).to.equal(0);

      const again = await runCli(['up', '-d', '--force'], { cwd: config.root });
      const down = await runCli(['down'], { cwd: config.root });
      expect(down.code, down.stdout + down.stderr).to.equal(0);
      expect(down.stdout).to.match(/without its lock: cannot write its lock .*\(ENOSPC\)/);
      expect(markedPids(config), 'every service stopped').to.deep.equal([]);
      expect(hasStackTrace(again.stderr + down.stderr)).to.equal(false);

      const cold = await runCli(['up', '-d'], { cwd: config.root });
      expect(cold.code).to.equal(1);
      expect(cold.stderr).to.match(/ENOSPC/);
      expect(cold.stderr, cold.stderr).to.include(config.pidDir);
      expect(cold.stderr).to.match(/free some space/);
      expect(cold.stderr).not.to.match(/internal error/);
      expect(markedPids(config), 'nothing left without a record').to.deep.equal([]);
    } finally {
      await runCli(['down'], { cwd: config.root });
      unmount();
    }
  });
});
