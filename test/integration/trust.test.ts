import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { hasStackTrace, runCli } from '../helpers/cli.js';
import { isAlive, waitFor } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';
import { otherUser, requireRoot, spawnAs, type UserIds } from '../helpers/users.js';

/** A config that appends a line to `mark` each time it is evaluated. */
function marking(mark: string): string {
  return `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(mark)}, 'ran\\n');\nexport default { services: { svc: { command: ['true'] } } };\n`;
}

const PLAIN = "export default { services: { svc: { command: ['true'] } } };\n";

/** A folder others may reach (tempDir() is 0700) holding `name`, with `mode`, owned by root and `group`. */
function sharedFolder(name: string, mode: number, group?: number): string {
  const top = tempDir();
  chmodSync(top, 0o755);
  const dir = join(top, name);
  mkdirSync(dir);
  if (group !== undefined) chownSync(dir, 0, group);
  chmodSync(dir, mode);
  return dir;
}

/** A folder of `user`'s own (0755) holding a config that marks `mark` when it runs. */
function attackersConfig(user: UserIds, mark: string): string {
  const home = sharedFolder('home', 0o755);
  chownSync(home, user.uid, user.gid);
  const evil = join(home, 'evil.mjs');
  writeFileSync(evil, marking(mark));
  chownSync(evil, user.uid, user.gid);
  return evil;
}

/** Runs `count` launchers, `parallel` at a time. */
async function many(count: number, parallel: number, run: () => Promise<unknown>): Promise<void> {
  let left = count;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (left-- > 0) await run();
    }),
  );
}

describe('config trust: the config that runs is the config that was checked', () => {
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
    const user = otherUser();
    // A folder the attacker's group may write (no sticky bit): they may rename files in it.
    const shared = sharedFolder('team', 0o775, user.gid);
    const work = join(shared, 'work');
    mkdirSync(work);
    const config = join(shared, 'launch.config.mjs');
    writeFileSync(config, PLAIN);
    const mark = join(shared, '..', 'ran');
    const evil = join(shared, 'evil.mjs');
    writeFileSync(evil, marking(mark));
    chownSync(evil, user.uid, user.gid);
    // The attacker swaps their file in and the real one back, as fast as they can.
    const counter = join(shared, 'swaps');
    const swapper = join(shared, '..', 'swap.mjs');
    writeFileSync(
      swapper,
      `import { renameSync, writeFileSync, existsSync } from 'node:fs';
const [cfg, evil, spare, counter, stop] = process.argv.slice(2);
let swaps = 0;
while (!existsSync(stop)) {
  for (let i = 0; i < 50; i++) {
    try { renameSync(cfg, spare); renameSync(evil, cfg); renameSync(cfg, evil); renameSync(spare, cfg); swaps++; } catch {}
  }
  writeFileSync(counter, String(swaps));
}
`,
    );
    const stop = join(shared, 'stop');
    const child = spawnAs(user, [
      process.execPath,
      swapper,
      config,
      evil,
      join(shared, 'spare.mjs'),
      counter,
      stop,
    ]);
    try {
      await waitFor(() => existsSync(counter));
      let refused = 0;
      await many(40, 4, async () => {
        const result = await runCli(['validate'], { cwd: work });
        expect(hasStackTrace(result.stderr), result.stderr).to.equal(false);
        if (result.code !== 0) refused++;
      });
      const swaps = Number(readFileSync(counter, 'utf8'));
      expect(swaps, 'swaps made during the runs').to.be.at.least(200);
      expect(existsSync(mark), 'the swapped-in config ran as root').to.equal(false);
      expect(refused, 'some runs met the swap').to.be.above(0);
    } finally {
      writeFileSync(stop, '');
      await waitFor(() => !isAlive(child.pid as number));
    }
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
});
