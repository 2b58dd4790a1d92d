import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { configRace, marking, PLAIN, sharedFolder } from '../helpers/attacks.js';
import { hasStackTrace, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { otherUser, requireRoot, type UserIds } from '../helpers/users.js';

/** A folder of `user`'s own (0755) holding a config that marks `mark` when it runs. */
function attackersConfig(user: UserIds, mark: string): string {
  const home = sharedFolder('home', 0o755);
  chownSync(home, user.uid, user.gid);
  const evil = join(home, 'evil.mjs');
  writeFileSync(evil, marking(mark));
  chownSync(evil, user.uid, user.gid);
  return evil;
}

describe('trust: the config that runs is the one checked, the state folder is ours', () => {
  it('as root: a symlinked config another user planted in a sticky folder is not run', async function () {
    requireRoot(this);
    const user = otherUser();
    const shared = sharedFolder('shared', 0o1777); // like /tmp
    const mark = join(shared, '..', 'ran');
    const link = join(shared, 'launch.config.mjs');
    symlinkSync(attackersConfig(user, mark), link);
    lchownSync(link, user.uid, user.gid);
    for (const args of [['validate'], ['status']]) {
      const result = await runCli(args, { cwd: shared });
      expect(result.code, `${args[0]}: ${result.stderr}`).to.equal(2);
      expect(result.stderr).to.include(`symbolic link ${link}`);
      expect(result.stderr).to.include(`belongs to ${user.name}`);
      expect(hasStackTrace(result.stderr)).to.equal(false);
    }
    expect(existsSync(mark), 'the planted config ran as root').to.equal(false);
    // Named with -c, it is the user's choice.
    const named = await runCli(['-c', link, 'validate'], { cwd: shared });
    expect(named.code, named.stderr).to.equal(0);
    expect(existsSync(mark)).to.equal(true);
  });

  it('as root: a symlinked config in a group-writable parent folder is not run from below it', async function () {
    requireRoot(this);
    const user = otherUser();
    const shared = sharedFolder('team', 0o2775, user.gid);
    const work = join(shared, 'work');
    mkdirSync(work);
    const mark = join(shared, '..', 'ran');
    const link = join(shared, 'launch.config.mjs');
    symlinkSync(attackersConfig(user, mark), link);
    lchownSync(link, user.uid, user.gid);
    const result = await runCli(['validate'], { cwd: work });
    expect(result.code, result.stderr).to.equal(2);
    expect(result.stderr).to.include(`belongs to ${user.name}`);
    expect(existsSync(mark), 'the planted config ran as root').to.equal(false);
  });

  it('a symlinked config of your own still loads, and the stack is the real file', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'real.mjs'), PLAIN);
    symlinkSync('real.mjs', join(dir, 'launch.config.mjs'));
    const result = await runCli(['validate'], { cwd: dir });
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include(join(dir, 'real.mjs'));
  });

  it('as root: a config swapped in between the check and the import never runs (200+ swaps)', async function () {
    requireRoot(this);
    this.timeout(60_000);
    const race = await configRace(otherUser(), 40);
    expect(race.swaps, 'swaps made during the runs').to.be.at.least(200);
    expect(race.foreign, 'the swapped-in config ran as root').to.equal(0);
    expect(race.refused, 'some runs met the swap').to.be.above(0);
    expect(race.traces, 'stack traces').to.equal(0);
  });

  it("as root: another user's env file in a sticky folder is refused (NODE_OPTIONS would run as root)", async function () {
    requireRoot(this);
    const user = otherUser();
    const shared = sharedFolder('shared', 0o1777);
    const envFile = join(shared, 'app.env');
    writeFileSync(envFile, 'NODE_OPTIONS=--require /tmp/evil.js\n');
    chownSync(envFile, user.uid, user.gid);
    const dir = tempDir();
    writeFileSync(
      join(dir, 'launch.config.mjs'),
      `export default { services: { svc: { command: ['true'], envFile: ${JSON.stringify(envFile)} } } };\n`,
    );
    const result = await runCli(['validate'], { cwd: dir });
    expect(result.code, result.stderr).to.equal(2);
    expect(result.stderr).to.include(`env file ${envFile}`);
    expect(result.stderr).to.include(`belongs to ${user.name}`);
    expect(result.stderr).to.match(/services\.svc\.envFile/);
    // The same file, owned by root, is fine.
    chownSync(envFile, 0, 0);
    const mine = await runCli(['validate'], { cwd: dir });
    expect(mine.code, mine.stderr).to.equal(0);
  });

  it('as root: a state folder below a folder another group member may rewrite is refused', async function () {
    requireRoot(this);
    const user = otherUser();
    const team = sharedFolder('team', 0o775, user.gid); // no sticky bit: members may rename
    const proj = join(team, 'proj');
    mkdirSync(proj);
    writeFileSync(join(proj, 'launch.config.mjs'), PLAIN);
    for (const args of [['up', '-d'], ['status']]) {
      const result = await runCli(args, { cwd: proj });
      expect(result.code, `${args[0]}: ${result.stderr}`).to.equal(1);
      expect(result.stderr).to.include(`is in ${team}, which its group may write`);
      expect(result.stderr).to.include(user.name);
      expect(result.stderr).to.include(`chmod g-w ${team}`);
    }
    expect(existsSync(join(proj, '.pids', 'svc.json')), 'nothing written').to.equal(false);
    chmodSync(team, 0o1775); // sticky: members may rename only their own entries
    const sticky = await runCli(['status'], { cwd: proj });
    expect(sticky.code, sticky.stderr).to.equal(3);
  });
});
