import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  lchownSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { stackId } from '../../lib/state/marker.js';
import { runCli } from '../helpers/cli.js';
import { freePort, listenersOn } from '../helpers/ports.js';
import { isAlive, waitFor } from '../helpers/procs.js';
import { plantRecord } from '../helpers/records.js';
import { listenService, makeStack, nodeFixture, spawnPlain } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { otherUser, requireRoot, spawnAs } from '../helpers/users.js';
import { count, score } from './scorecard.js';

/** What one attack left: the processes that must survive and the files that must not change. */
interface Aftermath {
  readonly victims: readonly number[];
  readonly files: readonly string[];
  /** Where the commands run (default: the stack's folder). */
  readonly cwd?: string;
}

/** One way in: sets the trap, returns what must stay untouched; `commands` then run against it. */
interface Attack {
  readonly name: string;
  readonly root: boolean;
  readonly commands: readonly (readonly string[])[];
  setup(config: ResolvedConfig): Promise<Aftermath>;
}

const sleeper = () => makeStack({ svc: { command: nodeFixture('sleep.mjs'), stopTimeout: 1000 } });

/** A root-only file outside the stack, with known content. */
function outsideFile(): string {
  const file = join(tempDir(), 'outside');
  writeFileSync(file, 'OUTSIDE-THE-STACK\n', { mode: 0o600 });
  return file;
}

/** A config that, if it ever runs, overwrites `victim` (a file outside the stack). */
function hostileConfig(victim: string): string {
  return `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(victim)}, 'PWNED');\nexport default { services: { svc: { command: ['true'] } } };\n`;
}

async function alive(...pids: (number | undefined)[]): Promise<number[]> {
  const list = pids.filter((p): p is number => p !== undefined);
  await waitFor(() => list.every(isAlive), 3000, 'the victims to start');
  return list;
}

const ATTACKS: readonly Attack[] = [
  {
    name: "forged record: a verified process, another process's group",
    root: false,
    commands: [['down'], ['up', '-d'], ['down']],
    async setup(config) {
      const victim = spawnPlain(nodeFixture('sleep.mjs')).pid;
      const decoy = spawnPlain(nodeFixture('sleep.mjs')).pid;
      await alive(victim, decoy);
      plantRecord(config, 'svc', decoy as number, { pgid: victim });
      return { victims: [victim as number], files: [] };
    },
  },
  {
    name: "forged record: another user's process, a root process's group",
    root: true,
    commands: [['down'], ['up', '-d'], ['down']],
    async setup(config) {
      const victim = spawnPlain(nodeFixture('sleep.mjs')).pid;
      const attacker = spawnAs(otherUser(), nodeFixture('sleep.mjs')).pid;
      await alive(victim, attacker);
      plantRecord(config, 'svc', attacker as number, { pgid: victim });
      return { victims: [victim as number], files: [] };
    },
  },
  {
    name: 'log planted as a symlink to a file outside',
    root: false,
    commands: [['up', '-d'], ['logs'], ['down']],
    async setup(config) {
      const file = outsideFile();
      mkdirSync(config.pidDir, { mode: 0o700 });
      symlinkSync(file, join(config.pidDir, 'svc.log'));
      return { victims: [], files: [file] };
    },
  },
  {
    name: 'log planted as a hard link to a file outside',
    root: false,
    commands: [['up', '-d'], ['logs'], ['down']],
    async setup(config) {
      const file = outsideFile();
      mkdirSync(config.pidDir, { mode: 0o700 });
      linkSync(file, join(config.pidDir, 'svc.log'));
      return { victims: [], files: [file] };
    },
  },
  {
    name: 'log planted as a FIFO',
    root: false,
    commands: [['logs'], ['up', '-d'], ['down']],
    async setup(config) {
      mkdirSync(config.pidDir, { mode: 0o700 });
      execFileSync('mkfifo', ['-m', '600', join(config.pidDir, 'svc.log')]);
      return { victims: [], files: [] };
    },
  },
  {
    name: 'state folder writable by others, holding a forged record',
    root: false,
    commands: [['up', '-d'], ['status'], ['down']],
    async setup(config) {
      const victim = spawnPlain(nodeFixture('sleep.mjs')).pid;
      await alive(victim);
      plantRecord(config, 'svc', victim as number);
      chmodSync(config.pidDir, 0o777);
      return { victims: [victim as number], files: [] };
    },
  },
  {
    name: "state folder planted as another user's symlink to a folder outside",
    root: true,
    commands: [['up', '-d'], ['status'], ['down']],
    async setup(config) {
      const outside = tempDir();
      const marker = join(outside, 'keep');
      writeFileSync(marker, 'OUTSIDE-THE-STACK\n');
      symlinkSync(outside, config.pidDir);
      const user = otherUser();
      lchownSync(config.pidDir, user.uid, user.gid);
      return { victims: [], files: [marker] };
    },
  },
  {
    name: "another user's process on the service's port, with --force",
    root: true,
    commands: [['up', '-d', '--force'], ['down']],
    async setup(config) {
      const port = config.services.svc?.port as number;
      const holder = spawnAs(otherUser(), nodeFixture('hold-port.mjs'), { PORT: String(port) });
      await waitFor(() => listenersOn(port).length > 0, 5000, 'the holder to listen');
      return { victims: [holder.pid as number], files: [] };
    },
  },
  {
    name: 'config made writable by everyone, then rewritten to run code',
    root: false,
    commands: [['validate'], ['up', '-d'], ['status'], ['down']],
    async setup(config) {
      const victim = outsideFile();
      writeFileSync(config.file, hostileConfig(victim));
      chmodSync(config.file, 0o666);
      return { victims: [], files: [victim] };
    },
  },
  {
    name: 'config planted by another user in a parent folder of where launchguard runs (as in /tmp)',
    root: true,
    commands: [['validate'], ['up', '-d'], ['status'], ['down']],
    async setup() {
      const victim = outsideFile();
      const shared = tempDir();
      chmodSync(shared, 0o1777);
      const work = join(shared, 'work');
      mkdirSync(work);
      const planted = join(shared, 'launch.config.mjs');
      writeFileSync(planted, hostileConfig(victim));
      const user = otherUser();
      lchownSync(planted, user.uid, user.gid);
      return { victims: [], files: [victim], cwd: work };
    },
  },
  {
    name: "another user's process carrying the stack's marker",
    root: true,
    commands: [['up', '-d'], ['down']],
    async setup(config) {
      const marker = `${stackId(config.name, config.file)}/svc/0123456789ab`;
      const impostor = spawnAs(otherUser(), nodeFixture('sleep.mjs'), {
        LAUNCHGUARD_INSTANCE: marker,
      });
      return { victims: await alive(impostor.pid), files: [] };
    },
  },
];

function snapshot(files: readonly string[]): string[] {
  return files.map((f) => `${readFileSync(f, 'utf8')}|${readdirSync(join(f, '..')).join(',')}`);
}

describe('reliability: a hostile state folder or config reaches nothing outside the stack', function () {
  this.timeout(300_000);
  const problems: string[] = [];
  let attempts = 0;

  /** One round of an attack: what went wrong (empty: nothing). */
  async function round(attack: Attack): Promise<string[]> {
    const config = attack.name.includes('port')
      ? await makeStack({ svc: listenService(await freePort()) })
      : await sleeper();
    const { victims, files, cwd } = await attack.setup(config);
    const before = snapshot(files);
    const found: string[] = [];
    for (const args of attack.commands) {
      attempts++;
      const result = await runCli(args, { cwd: cwd ?? config.root, timeout: 10_000 });
      if (result.signal !== null) found.push(`${args.join(' ')} hung (killed after 10 s)`);
    }
    await sleep(50);
    found.push(...victims.filter((v) => !isAlive(v)).map((v) => `victim ${v} died`));
    if (snapshot(files).join() !== before.join()) found.push('a file outside the stack changed');
    return found;
  }

  for (const attack of ATTACKS) {
    it(attack.name, async function () {
      if (attack.root) requireRoot(this);
      const mine: string[] = [];
      for (let i = 0; i < count(1, 5); i++) mine.push(...(await round(attack)));
      problems.push(...mine.map((p) => `${attack.name}: ${p}`));
      expect(mine).to.deep.equal([]);
    });
  }

  after(() => {
    if (attempts === 0) return;
    score({
      scenario:
        "hostile state folder or config: forged records (another group, another user), logs planted as symlink, hard link or FIFO, a state folder writable by others or planted as another user's symlink, another user's port holder (--force) or marker impostor, a config writable by everyone or planted by another user in a parent folder",
      runs: attempts,
      figure: `${problems.length} problems: every victim alive, every file outside unchanged, no hang`,
      target: '0',
      pass: problems.length === 0,
    });
  });
});
