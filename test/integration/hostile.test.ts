import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { stackId } from '../../lib/state/marker.js';
import { diedAtFault, hasStackTrace, runCli } from '../helpers/cli.js';
import { markedPids, recordOf } from '../helpers/e2e.js';
import { freePort, listenersOn } from '../helpers/ports.js';
import { isAlive, waitFor } from '../helpers/procs.js';
import { plantRecord } from '../helpers/records.js';
import { listenService, makeStack, nodeFixture, spawnPlain } from '../helpers/stack.js';
import { project, tempDir } from '../helpers/tmp.js';
import { otherUser, requireRoot, spawnAs } from '../helpers/users.js';

/** A one-service stack of `sleep.mjs` (no port). */
function sleeper(): Promise<ResolvedConfig> {
  return makeStack({ svc: { command: nodeFixture('sleep.mjs'), stopTimeout: 1000 } });
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

describe('hostile state folder: nothing outside the stack is signalled, written or read', () => {
  describe('a forged record never leads to another process group', () => {
    it('down and up -d signal only the recorded process, never the group a record names', async () => {
      const config = await sleeper();
      const victim = spawnPlain(nodeFixture('sleep.mjs')); // leads its own group
      const decoy = spawnPlain(nodeFixture('sleep.mjs'));
      await waitFor(() => isAlive(victim.pid as number) && isAlive(decoy.pid as number));
      // The record names a live process (it verifies) and, as its group, the victim's.
      plantRecord(config, 'svc', decoy.pid as number, { pgid: victim.pid });
      const down = await runCli(['down'], { cwd: config.root });
      expect(down.stderr).not.to.match(/internal error/);
      await sleep(100);
      expect(isAlive(victim.pid as number), 'the victim group survives down').to.equal(true);

      const decoy2 = spawnPlain(nodeFixture('sleep.mjs'));
      await waitFor(() => isAlive(decoy2.pid as number));
      plantRecord(config, 'svc', decoy2.pid as number, { pgid: victim.pid });
      const up = await runCli(['up', '-d'], { cwd: config.root });
      expect(up.code, up.stderr).to.equal(0);
      await sleep(100);
      expect(isAlive(victim.pid as number), 'the victim group survives up -d').to.equal(true);
    });

    it('as root: a record naming another user’s process and a root group leaves the root group alone', async function () {
      requireRoot(this);
      const user = otherUser();
      const config = await sleeper();
      const victim = spawnPlain(nodeFixture('sleep.mjs'));
      const attacker = spawnAs(user, nodeFixture('sleep.mjs'));
      await waitFor(() => isAlive(victim.pid as number) && isAlive(attacker.pid as number));
      plantRecord(config, 'svc', attacker.pid as number, { pgid: victim.pid });
      await runCli(['down'], { cwd: config.root });
      await sleep(100);
      expect(isAlive(victim.pid as number), 'the root victim survives').to.equal(true);
    });
  });

  describe('log files are never followed or blocked on', () => {
    it('a log planted as a symlink is neither written through by up -d nor printed by logs', async () => {
      const config = await sleeper();
      const secret = join(tempDir(), 'secret');
      writeFileSync(secret, 'TOP-SECRET-CONTENT\n', { mode: 0o600 });
      mkdirSync(config.pidDir, { mode: 0o700 });
      symlinkSync(secret, join(config.pidDir, 'svc.log'));
      const up = await runCli(['up', '-d'], { cwd: config.root });
      expect(up.code, up.stderr).to.equal(0);
      await sleep(100);
      expect(readFileSync(secret, 'utf8')).to.equal('TOP-SECRET-CONTENT\n');
      // The service got a log of its own; the link was moved aside, never followed.
      expect(statSync(join(config.pidDir, 'svc.log')).isFile()).to.equal(true);
      expect(up.stdout).to.match(/svc\.log.*symbolic link.*moved aside/);
      symlinkSync(secret, join(config.pidDir, 'svc.log.tmp-link'));
      execFileSync('mv', [
        '-f',
        join(config.pidDir, 'svc.log.tmp-link'),
        join(config.pidDir, 'svc.log'),
      ]);
      const logs = await runCli(['logs', 'svc'], { cwd: config.root, timeout: 5000 });
      expect(logs.stdout + logs.stderr).not.to.include('TOP-SECRET');
      expect(logs.stderr).to.match(/svc\.log is a symbolic link/);
      expect(logs.code).to.equal(1);
    });

    it('a FIFO as the log makes neither up -d nor logs hang', async () => {
      const config = await sleeper();
      mkdirSync(config.pidDir, { mode: 0o700 });
      const log = join(config.pidDir, 'svc.log');
      execFileSync('mkfifo', ['-m', '600', log]);
      const logs = await runCli(['logs', 'svc'], { cwd: config.root, timeout: 5000 });
      expect(logs.signal, 'logs hung on the FIFO').to.equal(null);
      expect(logs.stderr).to.match(/svc\.log is a FIFO/);
      const up = await runCli(['up', '-d'], { cwd: config.root, timeout: 8000 });
      expect(up.signal, 'up -d hung on the FIFO').to.equal(null);
      expect(up.code, up.stderr).to.equal(0);
      expect(statSync(log).isFile()).to.equal(true);
      expect(statSync(`${log}.corrupt`).isFIFO()).to.equal(true);
    });
  });

  describe("other users' processes are never stopped", () => {
    it('as root: up -d --force leaves a port holder of another user running, and says why', async function () {
      requireRoot(this);
      const user = otherUser();
      const port = await freePort();
      const config = await makeStack({ api: listenService(port) });
      const holder = spawnAs(user, nodeFixture('hold-port.mjs'), { PORT: String(port) });
      await waitFor(() => listenersOn(port).length > 0, 5000, 'the holder to listen');
      const up = await runCli(['up', '-d', '--force'], { cwd: config.root });
      expect(up.code).to.equal(1);
      expect(up.stderr).to.include(`user ${user.name}`);
      expect(up.stderr).to.match(/never stops another user's process/);
      expect(isAlive(holder.pid as number)).to.equal(true);
    });

    it("as root: another user's copy of the service's command is not taken for an earlier instance", async function () {
      requireRoot(this);
      const user = otherUser();
      const port = await freePort();
      const config = await makeStack({ api: listenService(port) });
      chmodSync(config.root, 0o755); // the other user may enter the project folder
      const copy = spawnAs(user, nodeFixture('listen.mjs'), { PORT: String(port) }, config.root);
      await waitFor(() => listenersOn(port).length > 0, 5000, 'the copy to listen');
      const up = await runCli(['up', '-d'], { cwd: config.root });
      expect(up.code).to.equal(1);
      expect(up.stderr).to.include(`user ${user.name}`);
      expect(isAlive(copy.pid as number)).to.equal(true);
    });

    it("as root: another user's process carrying the stack's marker survives up -d and down", async function () {
      requireRoot(this);
      const user = otherUser();
      const config = await sleeper();
      const marker = `${stackId(config.name, config.file)}/svc/0123456789ab`;
      const impostor = spawnAs(user, nodeFixture('sleep.mjs'), { LAUNCHGUARD_INSTANCE: marker });
      await waitFor(() => isAlive(impostor.pid as number));
      const up = await runCli(['up', '-d'], { cwd: config.root });
      expect(up.code, up.stderr).to.equal(0);
      const down = await runCli(['down'], { cwd: config.root });
      await sleep(100);
      expect(isAlive(impostor.pid as number)).to.equal(true);
      expect(down.stdout + down.stderr).to.match(
        new RegExp(`pid ${impostor.pid}.*user ${user.name}.*not signalled`),
      );
    });
  });

  describe('one stack per real folder', () => {
    it('the same project reached through a symlinked path is the same stack', async () => {
      const port = await freePort();
      const config = await makeStack({ api: listenService(port) });
      const link = join(tempDir(), 'link');
      symlinkSync(config.root, link);
      const viaLink = join(link, 'launch.config.mjs');
      const first = await runCli(['up', '-d', '-c', viaLink], { cwd: config.root });
      expect(first.code, first.stderr).to.equal(0);
      const pid = recordOf(config, 'api')?.pid;
      const again = await runCli(['up', '-d'], { cwd: config.root });
      expect(again.stdout).to.include('api: already running (kept)');
      expect(recordOf(config, 'api')?.pid).to.equal(pid);
      // A leftover started through the link (the launcher died before the record) is
      // found by `down` through the real path.
      await runCli(['down'], { cwd: config.root });
      const crashed = await runCli(['up', '-d', '-c', viaLink], {
        cwd: config.root,
        env: { LAUNCHGUARD_FAULT: 'after-spawn' },
      });
      expect(diedAtFault(crashed), crashed.stderr).to.equal(true);
      await runCli(['down'], { cwd: config.root });
      await sleep(50);
      expect(listenersOn(port), 'a leftover still listens').to.have.length(0);
    });
  });

  describe('the config is code: nobody else gets to write it', () => {
    /** A config that leaves a mark when it is evaluated. */
    const marking = (mark: string) =>
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(mark)}, 'ran');\nexport default { services: { svc: { command: ['true'] } } };\n`;

    it('refuses a config anyone may write, and one in a folder anyone may write, without running it', async () => {
      for (const loose of ['file', 'folder'] as const) {
        const dir = project({});
        const mark = join(dir, 'ran');
        const file = join(dir, 'launch.config.mjs');
        writeFileSync(file, marking(mark));
        chmodSync(loose === 'file' ? file : dir, 0o777);
        for (const args of [['validate'], ['up', '-d'], ['status']]) {
          const result = await runCli(args, { cwd: dir });
          expect(result.code, `${loose}: ${args.join(' ')}: ${result.stderr}`).to.equal(2);
          expect(result.stderr).to.include(loose === 'file' ? file : dir);
          expect(result.stderr).to.match(/everyone may write|writable by everyone/);
          expect(result.stderr).to.match(/chmod o-w/);
          expect(hasStackTrace(result.stderr)).to.equal(false);
        }
        expect(existsSync(mark), `${loose}: the config did not run`).to.equal(false);
      }
    });

    it('refuses an env file anyone may write (it could set NODE_OPTIONS or LD_PRELOAD)', async () => {
      const dir = project({
        'launch.config.mjs':
          "export default { services: { svc: { command: ['true'], envFile: '.env' } } };\n",
        '.env': 'A=1\n',
      });
      chmodSync(join(dir, '.env'), 0o666);
      const result = await runCli(['validate'], { cwd: dir });
      expect(result.code, result.stderr).to.equal(2);
      expect(result.stderr).to.include(join(dir, '.env'));
      expect(result.stderr).to.match(/chmod o-w/);
    });

    it('as root: a config another user planted in a parent folder is not run; named with -c, it is', async function () {
      requireRoot(this);
      const user = otherUser();
      const shared = tempDir();
      chmodSync(shared, 0o1777); // like /tmp
      const work = join(shared, 'work');
      mkdirSync(work);
      const mark = join(shared, 'ran');
      const planted = join(shared, 'launch.config.mjs');
      writeFileSync(planted, marking(mark));
      chownSync(planted, user.uid, user.gid);
      const found = await runCli(['status'], { cwd: work });
      expect(found.code, found.stderr).to.equal(2);
      expect(found.stderr).to.include(`belongs to ${user.name}`);
      expect(found.stderr).to.include(`-c ${planted}`);
      expect(existsSync(mark), 'the planted config did not run').to.equal(false);
      const named = await runCli(['-c', planted, 'validate'], { cwd: work });
      expect(named.code, named.stderr).to.equal(0);
      expect(existsSync(mark), 'named, it ran').to.equal(true);
    });

    it("as root: another user's config in that user's own folder is used from a subfolder (a CI checkout)", async function () {
      requireRoot(this);
      const user = otherUser();
      const checkout = tempDir();
      const sub = join(checkout, 'packages', 'web');
      mkdirSync(sub, { recursive: true });
      writeFileSync(
        join(checkout, 'launch.config.mjs'),
        "export default { services: { svc: { command: ['true'] } } };\n",
      );
      for (const path of [checkout, join(checkout, 'launch.config.mjs')])
        chownSync(path, user.uid, user.gid);
      chmodSync(checkout, 0o755);
      const result = await runCli(['validate'], { cwd: sub });
      expect(result.code, result.stderr).to.equal(0);
    });
  });

  describe('compiled configs are cached only where nobody else writes', () => {
    const RELATIVE = {
      'services.ts': "export const svc = { command: ['true'] } as const;\n",
      'launch.config.ts':
        "import { svc } from './services';\nexport default { services: { svc } };\n",
    };

    it('a config compiled by jiti is not cached in the shared temp folder (TMPDIR)', async () => {
      const dir = project(RELATIVE);
      const shared = tempDir();
      chmodSync(shared, 0o1777); // like /tmp
      const result = await runCli(['validate'], { cwd: dir, env: { TMPDIR: shared } });
      expect(result.code, result.stderr).to.equal(0);
      expect(readdirSync(shared), 'written to the shared temp folder').to.deep.equal([]);
    });

    it("the project's own node_modules holds the caches, private (0700 folders, 0600 files)", async () => {
      for (const files of [
        RELATIVE,
        { 'launch.config.ts': "export default { services: { svc: { command: ['true'] } } };\n" },
      ]) {
        const dir = project(files);
        mkdirSync(join(dir, 'node_modules'));
        const result = await runCli(['validate'], { cwd: dir });
        expect(result.code, result.stderr).to.equal(0);
        const cache = join(dir, 'node_modules', '.cache', 'launchguard');
        expect(mode(cache)).to.equal(0o700);
        const cached = readdirSync(cache, { recursive: true, withFileTypes: true }).filter((e) =>
          e.isFile(),
        );
        expect(cached.length, 'something cached').to.be.above(0);
        for (const e of cached)
          expect(
            mode(join(e.parentPath, e.name)) & 0o022,
            `${e.name}: writable by others`,
          ).to.equal(0);
      }
    });

    it("as root: another user's node_modules above the project is neither read nor written", async function () {
      requireRoot(this);
      const user = otherUser();
      const shared = tempDir();
      chmodSync(shared, 0o1777);
      const planted = join(shared, 'node_modules');
      mkdirSync(planted);
      chownSync(planted, user.uid, user.gid);
      const work = join(shared, 'work');
      mkdirSync(work);
      writeFileSync(
        join(work, 'launch.config.ts'),
        "export default { services: { svc: { command: ['true'] } } };\n",
      );
      const result = await runCli(['validate'], { cwd: work });
      expect(result.code, result.stderr).to.equal(0);
      expect(readdirSync(planted), 'nothing written into it').to.deep.equal([]);
    });
  });

  describe('state folder modes and ownership', () => {
    it('creates the state folder 0700 and its files 0600', async () => {
      const config = await sleeper();
      const up = await runCli(['up', '-d'], { cwd: config.root });
      expect(up.code, up.stderr).to.equal(0);
      expect(mode(config.pidDir)).to.equal(0o700);
      for (const file of ['svc.pid', 'svc.json', 'svc.log'])
        expect(mode(join(config.pidDir, file)), file).to.equal(0o600);
    });

    it('tightens a state folder an older launchguard made 0755 to 0700, its log to 0600', async () => {
      const config = await sleeper();
      mkdirSync(config.pidDir, { mode: 0o755 });
      chmodSync(config.pidDir, 0o755);
      writeFileSync(join(config.pidDir, 'svc.log'), 'an older run\n', { mode: 0o644 });
      chmodSync(join(config.pidDir, 'svc.log'), 0o644);
      const up = await runCli(['up', '-d'], { cwd: config.root });
      expect(up.code, up.stderr).to.equal(0);
      expect(mode(config.pidDir)).to.equal(0o700);
      expect(mode(join(config.pidDir, 'svc.log'))).to.equal(0o600);
    });

    it("leaves the mode of a folder that holds other files alone (pidDir: '.', a shared folder)", async () => {
      for (const pidDir of ['.', 'shared']) {
        const config = await makeStack(
          { svc: { command: nodeFixture('sleep.mjs'), stopTimeout: 1000 } },
          { pidDir },
        );
        mkdirSync(config.pidDir, { recursive: true });
        chmodSync(config.pidDir, 0o755);
        const notes = join(config.pidDir, 'notes.txt');
        writeFileSync(notes, 'not launchguard’s\n');
        chmodSync(notes, 0o644);
        for (const args of [['up', '-d'], ['status'], ['down']]) {
          const result = await runCli(args, { cwd: config.root });
          expect(result.code, `${pidDir}: ${args.join(' ')}: ${result.stderr}`).to.equal(0);
        }
        expect(mode(config.pidDir), pidDir).to.equal(0o755);
        expect(mode(notes), pidDir).to.equal(0o644);
        expect(readFileSync(notes, 'utf8')).to.equal('not launchguard’s\n');
        expect(mode(join(config.pidDir, 'svc.log')), pidDir).to.equal(0o600);
      }
    });

    it('refuses a state folder that others can write, with the chmod that fixes it', async () => {
      const config = await sleeper();
      mkdirSync(config.pidDir);
      chmodSync(config.pidDir, 0o777);
      for (const args of [['up', '-d'], ['status'], ['down']]) {
        const result = await runCli(args, { cwd: config.root });
        expect(result.code, args.join(' ')).to.equal(1);
        expect(result.stderr).to.include(config.pidDir);
        expect(result.stderr).to.match(/writable by others/);
        expect(result.stderr).to.match(/chmod 700/);
        expect(hasStackTrace(result.stderr)).to.equal(false);
      }
      expect(markedPids(config)).to.deep.equal([]);
      expect(existsSync(join(config.pidDir, 'svc.json'))).to.equal(false);
    });

    it('as root: refuses a state folder owned by another user, with the chown that fixes it', async function () {
      requireRoot(this);
      const user = otherUser();
      const config = await sleeper();
      mkdirSync(config.pidDir, { mode: 0o700 });
      chownSync(config.pidDir, user.uid, user.gid);
      const up = await runCli(['up', '-d'], { cwd: config.root });
      expect(up.code).to.equal(1);
      expect(up.stderr).to.include(`owned by ${user.name}`);
      expect(up.stderr).to.match(/chown/);
      expect(markedPids(config)).to.deep.equal([]);
    });
  });
});
